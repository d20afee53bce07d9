"""The mock vLLM server's own endpoints (`/mock/stats`, `/mock/argv`): read by bench and the tests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Role = Literal["prefill", "decode"]
# How a decode request's kv_transfer_params fared in the simulated NIXL handshake. Anything but "ok"
# is a KV failure: real vLLM would silently recompute the prefill.
KVCheck = Literal["ok", "no_params", "malformed", "unreachable", "engine_mismatch", "incompatible"]


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


def is_kv_failure(kv_check: str | None) -> bool:
    return kv_check is not None and kv_check != "ok"
