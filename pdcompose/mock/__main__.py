"""`python -m pdcompose.mock serve MODEL [vLLM flags]`: what the mock image's `vllm` shim runs."""

import sys

from pdcompose.mock.server import main

if __name__ == "__main__":
    sys.exit(main())
