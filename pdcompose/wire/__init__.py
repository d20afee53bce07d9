"""What travels over HTTP between pdcompose and the servers it deploys, one module per speaker.

- `vllm`: vLLM's OpenAI-compatible server (`/v1/models`, completions, errors, `kv_transfer_params`);
  the mock vLLM server answers in these shapes and deploy's health check reads them.
- `router`: vllm-router's own endpoints (`/readiness`, `/workers`), read by deploy and status.
- `mock`: the mock server's test endpoints (`/mock/stats`, `/mock/argv`), read by bench and the tests.

`docs/upstream/vllm-router-protocol.md` is the reference for every field. Imports stay at pydantic + stdlib:
the mock image installs pdcompose with `--no-deps`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OpenModel(BaseModel):
    """vLLM and the router add fields between releases; readers must not break on them."""

    model_config = ConfigDict(extra="allow")
