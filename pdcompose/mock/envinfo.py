"""`GET /mock/argv`: the command line and environment a mock was started with, secrets hashed.

pdcompose delivers secrets (the HF token as a Compose secret file, API keys in the environment); tests
prove they arrived by comparing `sha256:<hex>` digests, so no secret value ever leaves the process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pdcompose.catalog.flags import canonical

# vLLM flags whose value is a secret: shown as sha256:<hex> like secret environment values.
SECRET_FLAGS = frozenset({"api-key", "hf-token"})
# Words in an environment variable's name that make its value a secret.
_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL")


def argv_report(argv: Iterable[str], environ: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The `MockArgv` JSON shape."""
    variables = dict(environ)
    env = {name: sha256_tag(value) if looks_secret(name) else value for name, value in variables.items()}
    # read per call (rare) rather than at start, so a secret file mounted late is still seen
    digest = _file_digest(variables.get("HF_TOKEN_PATH"))
    return {"argv": redact_argv(list(argv)), "env": env, "hf_token_sha256": digest}


def redact_argv(argv: list[str]) -> list[str]:
    shown: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next:
            shown.append(sha256_tag(token))
            hide_next = False
            continue
        head, has_inline, inline = token.partition("=")
        secret = head.startswith("--") and canonical(head) in SECRET_FLAGS
        if secret and has_inline:
            shown.append(f"{head}={sha256_tag(inline)}")
        else:
            shown.append(token)
            hide_next = secret
    return shown


def _file_digest(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return sha256_tag(Path(path).read_bytes())
    except OSError:
        return None


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name suggests its value must never be shown."""
    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS)


def sha256_tag(data: str | bytes) -> str:
    """`sha256:<hex>`: how secrets are reported so a test can match them without printing them."""
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()
