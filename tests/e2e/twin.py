"""The mock calibrated against the real engine: the same requests to both, what a client and the router see.

tests/e2e/test_real_engine.py deploys examples/rehearsal-real.yaml with the real engine; beside it, the same
topology rehearsed with the mock (`engine: mock`, on other loopback addresses) is cheap. `observe` sends
both the same requests and keeps what must agree: status codes, error bodies, the keys of the prefill's
`kv_transfer_params`, the metric families and their types, /health. `differences` lists where they part.

Token counts: the mock counts whitespace words, the tiny Llama's tokenizer counts BPE pieces, so a
prompt given as token ids is the one whose error body must match to the letter; a chat prompt's counts
are compared with the numbers masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

MAX_MODEL_LEN = 2048                    # examples/rehearsal-real.yaml
NOWHERE = {"do_remote_prefill": True, "do_remote_decode": False, "remote_block_ids": [[1, 2]],
           "remote_engine_id": "nobody", "remote_request_id": "cmpl-nobody-0", "remote_host": "127.0.3.99",
           "remote_port": 5999, "tp_size": 1}
PREFILL_PARAMS = {"do_remote_decode": True, "do_remote_prefill": False, "remote_engine_id": None,
                  "remote_block_ids": None, "remote_host": None, "remote_port": None}


@dataclass(frozen=True)
class Side:
    prefill: str
    decode: str
    router: str
    model: str = "tiny-llama"


def metric_types(url: str) -> dict[str, str]:
    """Every `vllm:` family of a /metrics page and its type, as its `# TYPE` lines say."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    types = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("# TYPE ") and len(parts) == 4 and parts[2].startswith("vllm:"):
            types[parts[2]] = parts[3]
    return types


def _post(url: str, path: str, body: dict[str, Any], timeout: float = 120) -> tuple[int | str, Any]:
    try:
        r = httpx.post(f"{url}{path}", json=body, timeout=timeout)
    except httpx.HTTPError as e:
        return type(e).__name__, None
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def _masked(body: Any) -> Any:
    """An error body with the numbers of its message masked (token counts differ by tokenizer)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return {**body, "error": {**error, "message": re.sub(r"\d+", "N", str(error.get("message")))}}
    return body


def observe(side: Side) -> dict[str, Any]:
    """What a client sees from each node and through the router, for the same requests."""
    ids = list(range(10, 10 + MAX_MODEL_LEN))
    m = side.model
    out: dict[str, Any] = {"health": {name: httpx.get(f"{url}/health", timeout=10).status_code
                                      for name, url in (("prefill", side.prefill), ("decode", side.decode),
                                                        ("router", side.router))}}
    code, body = _post(side.prefill, "/v1/completions",
                       {"model": m, "prompt": ids[:20], "max_tokens": 1, "kv_transfer_params": PREFILL_PARAMS})
    out["prefill"] = code
    params = (body.get("kv_transfer_params") or {}) if isinstance(body, dict) else {}
    out["kv_transfer_params keys"] = sorted(params) or body
    blocks = params.get("remote_block_ids")
    out["remote_block_ids shape"] = ("one list per KV group" if blocks and isinstance(blocks[0], list)
                                     else "one flat list" if blocks else repr(blocks))
    # the decode pulls that prefill's KV over NIXL, as the router would have it do
    out["decode with the prefill's params"] = _post(side.decode, "/v1/completions",
                                                    {"model": m, "prompt": ids[:20], "max_tokens": 2,
                                                     "kv_transfer_params": params or None})[0]
    out["prompt too long"] = _post(side.prefill, "/v1/completions", {"model": m, "prompt": ids, "max_tokens": 1})
    out["prompt + max_tokens too long"] = _post(side.prefill, "/v1/completions",
                                                {"model": m, "prompt": ids[:2000], "max_tokens": 100})
    out["the same, streamed"] = _post(side.prefill, "/v1/completions",
                                      {"model": m, "prompt": ids[:2000], "max_tokens": 100, "stream": True})
    code, body = _post(side.prefill, "/v1/chat/completions",
                       {"model": m, "messages": [{"role": "user", "content": "hello there"}],
                        "max_completion_tokens": MAX_MODEL_LEN})
    out["chat too long (numbers masked)"] = (code, _masked(body))
    out["unknown model"] = _post(side.prefill, "/v1/completions", {"model": "nope", "prompt": "hi", "max_tokens": 1})
    out["router: completion"] = _post(side.router, "/v1/completions",
                                      {"model": m, "prompt": "a b c", "max_tokens": 2})[0]
    out["router: too long"] = _post(side.router, "/v1/completions",
                                    {"model": m, "prompt": ids[:2000], "max_tokens": 100})[0]
    out["metrics: prefill"] = metric_types(side.prefill)
    out["metrics: decode"] = metric_types(side.decode)
    return out


def dead(seen: Any) -> str:
    """How a node whose engine core died answers afterwards, as one of the two forms vLLM 0.13.0 was seen
    taking on the rehearsed DP-4 decode: its API server still up (500 "EngineCore encountered an issue",
    /health 503), or already going away (the connection drops, /health refused). Which one a client meets
    depends on when it asks; both read as dead."""
    if isinstance(seen, tuple) and seen[0] == 500 and "EngineCore encountered" in str(seen[1]):
        return "dead"
    if seen == 503 or isinstance(seen, str) or (isinstance(seen, tuple) and isinstance(seen[0], str)):
        return "dead"                    # 503, or a connection error's name
    return f"alive: {seen!r}"


def observe_failed_pull(side: Side) -> dict[str, Any]:
    """A decode told to pull KV from a prefill that is not there. On vLLM 0.13.0 this kills the decode's
    engine (pdcompose.mock.kvfail): run it last, before the node restarts."""
    ids = list(range(10, 30))
    out: dict[str, Any] = {"decode, KV unreachable": _post(side.decode, "/v1/completions",
                                                           {"model": side.model, "prompt": ids, "max_tokens": 2,
                                                            "kv_transfer_params": NOWHERE})}
    out["then a plain request"] = dead(_post(side.decode, "/v1/completions",
                                             {"model": side.model, "prompt": ids, "max_tokens": 2}))
    out["then the decode's /health"] = dead(health(side.decode))
    return out


def health(url: str) -> int | str:
    try:
        return httpx.get(f"{url}/health", timeout=10).status_code
    except httpx.HTTPError as e:          # the process gone: what a health check sees
        return type(e).__name__


def differences(real: dict[str, Any], mock: dict[str, Any]) -> list[str]:
    """Where the mock parts from the real engine. Metrics: every family the mock shows must be the real
    engine's, with its type (the real one shows many more)."""
    out = []
    for key, want in real.items():
        got = mock.get(key)
        if key.startswith("metrics: "):
            wrong = {k: (v, want.get(k)) for k, v in got.items() if want.get(k) != v}
            if wrong:
                out.append(f"{key}: mock family (type, real type): {wrong}")
        elif got != want:
            out.append(f"{key}: real {want!r}, mock {got!r}")
    return out
