"""What travels over HTTP between pdcompose, vLLM-like servers and their clients.

One module, organised by section, so the mock vLLM server and the code that checks a real deployment's
health parse the same shapes (`notes/vllm-router-protocol.md` is the reference for every field).
Imports stay at pydantic + stdlib: the mock image installs pdcompose with `--no-deps`.

Sections:
1. vLLM's OpenAI-compatible server (`/v1/models`, completions, errors, `kv_transfer_params`)
2. the mock server's own endpoints (`/mock/stats`, `/mock/argv`)
3. pure helpers (no I/O) for health checks and tests
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# ---------------------------------------------------------------------------------------------------
# 1. vLLM's OpenAI-compatible server
# ---------------------------------------------------------------------------------------------------


class _Open(BaseModel):
    """vLLM adds fields between releases; readers must not break on them."""

    model_config = ConfigDict(extra="allow")


class ModelCard(_Open):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "vllm"
    root: str | None = None          # vLLM puts the model path here; `vllm bench` loads it as the tokenizer
    parent: str | None = None
    max_model_len: int | None = None
    permission: list[dict[str, Any]] = Field(default_factory=list)


class ModelList(_Open):
    object: Literal["list"] = "list"
    data: list[ModelCard] = Field(default_factory=list)


class KVTransferParams(_Open):
    """A prefill's `kv_transfer_params` (NIXL connector), copied by the router into the decode body.

    `remote_block_ids` is one list per KV-cache group in newer vLLM (`[[1, 2]]`), a flat list in older.
    """

    do_remote_prefill: bool = False
    do_remote_decode: bool = False
    remote_block_ids: list[list[int]] | list[int] | None = None
    remote_engine_id: str | None = None
    remote_request_id: str | None = None
    remote_host: str | None = None
    remote_port: int | None = None
    tp_size: int | None = None


class PromptTokensDetails(_Open):
    cached_tokens: int | None = None


class Usage(_Open):
    prompt_tokens: int = 0
    total_tokens: int = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: PromptTokensDetails | None = None


class CompletionChoice(_Open):
    index: int = 0
    text: str = ""
    finish_reason: str | None = None


class CompletionResponse(_Open):
    id: str
    object: Literal["text_completion"] = "text_completion"
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    kv_transfer_params: KVTransferParams | None = None


class ChatMessage(_Open):
    role: str = "assistant"
    content: str | None = None


class ChatChoice(_Open):
    index: int = 0
    message: ChatMessage
    finish_reason: str | None = None


class ChatCompletionResponse(_Open):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
    kv_transfer_params: KVTransferParams | None = None


class ErrorInfo(_Open):
    message: str
    type: str
    param: str | None = None
    code: int


class ErrorResponse(_Open):
    """vLLM's error body (0.13.0 on): `{"error":{"message":..,"type":..,"param":null,"code":N}}`."""

    error: ErrorInfo


# ---------------------------------------------------------------------------------------------------
# 2. The mock server's own endpoints
# ---------------------------------------------------------------------------------------------------

Role = Literal["prefill", "decode"]
# How a decode request's kv_transfer_params fared in the simulated NIXL handshake. Anything but "ok"
# is a KV failure: real vLLM would silently recompute the prefill.
KVCheck = Literal["ok", "no_params", "malformed", "unreachable", "engine_mismatch"]


class MockRecord(BaseModel):
    t: float                                  # unix time the request arrived
    path: str
    role: Role | None                         # None when the request was rejected before it had one
    request_id: str | None                    # the X-Request-ID header (same on both PD legs)
    traceparent: str | None                   # W3C trace header; the router copies it to both legs
    rank_header: str | None                   # x-data-parallel-rank as received
    local_rank: int | None
    global_rank: int | None
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    kv_transfer_params: Any                   # received (decode) or returned (prefill), as JSON
    kv_check: KVCheck | None                  # decode only
    status: int


class MockStats(BaseModel):
    ready: bool
    engine_ids: list[str]                     # NIXL engine id of each local DP engine
    requests: int
    by_role: dict[str, int]
    by_rank: dict[str, int]                   # keyed by global DP rank
    kv_checks: dict[str, int]
    kv_failures: int
    errors: int                               # responses with status >= 400
    records_dropped: int                      # oldest records dropped past PDCOMPOSE_MOCK_MAX_RECORDS
    records: list[MockRecord]


class MockArgv(BaseModel):
    argv: list[str]                           # as received, except secret flag values (sha256:<hex>)
    env: dict[str, str]                       # secret-looking names carry sha256:<hex> of the value
    hf_token_sha256: str | None               # sha256:<hex> of the HF_TOKEN_PATH file, if readable


# ---------------------------------------------------------------------------------------------------
# 3. Pure helpers
# ---------------------------------------------------------------------------------------------------

_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL")
_ENGINE_LABEL = re.compile(r'[{,]\s*engine="([^"]*)"')


def model_served(models: ModelList, model: str) -> bool:
    """True when `/v1/models` lists `model` (by its served name)."""
    return any(card.id == model for card in models.data)


def engine_labels(metrics_text: str) -> list[str]:
    """Distinct `engine="N"` label values in Prometheus text, in order of appearance.

    The router splits a worker into this many DP targets (protocol notes, section 2).
    """
    seen: dict[str, None] = {}
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        for value in _ENGINE_LABEL.findall(line):
            seen.setdefault(value, None)
    return list(seen)


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name suggests its value must never be shown."""
    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS)


def sha256_tag(data: str | bytes) -> str:
    """`sha256:<hex>`: how secrets are reported so a test can match them without printing them."""
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def is_kv_failure(kv_check: str | None) -> bool:
    return kv_check is not None and kv_check != "ok"


# ---------------------------------------------------------------------------------------------------
# 4. vllm-router 0.1.17's own endpoints (what deploy and status read)
# ---------------------------------------------------------------------------------------------------


class PoolHealth(_Open):
    healthy: int
    total: int


class RouterReadiness(_Open):
    """`GET /readiness` in PD mode. The router splits a worker whose /metrics shows K engines into K
    targets (url@0 .. url@K-1), so these totals count engines, not API servers."""

    status: str
    prefill: PoolHealth
    decode: PoolHealth


class RouterWorker(_Open):
    url: str
    worker_type: str = ""
    is_healthy: bool = False


class RouterWorkers(_Open):
    """`GET /workers`."""

    workers: list[RouterWorker] = []


def worker_base_url(url: str) -> str:
    """`http://10.0.0.10:8087@3` (a DP target of a worker) -> `http://10.0.0.10:8087`."""
    head, sep, rank = url.rpartition("@")
    return head if sep and rank.isdigit() else url
