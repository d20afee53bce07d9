"""A prefill and a decode of different vLLM releases never pair: the mock's NIXL handshake carries the
release it stands for and a decode refuses another one's KV (as vLLM's handshake compatibility check
does), so a rolling upgrade that mixes them fails in a rehearsal as it would in production."""

from __future__ import annotations

import httpx
from mockutil import NIXL

from pdcompose.wire.mock import MockStats


def test_decode_refuses_a_prefill_of_another_release(spawn) -> None:
    def side(host: str) -> dict[str, str]:
        return {"VLLM_NIXL_SIDE_CHANNEL_HOST": host, "VLLM_NIXL_SIDE_CHANNEL_PORT": "25620"}

    old = spawn("127.0.120.201", 18220, "mock-model", "--kv-transfer-config", NIXL,
                env={**side("127.0.120.201"), "PDCOMPOSE_MOCK_VLLM_VERSION": "0.11.2"})
    same = spawn("127.0.120.202", 18220, "mock-model", "--kv-transfer-config", NIXL, env=side("127.0.120.202"))
    decode = spawn("127.0.120.203", 18220, "mock-model", "--kv-transfer-config", NIXL,
                   env={**side("127.0.120.203"), "PDCOMPOSE_MOCK_SURVIVE_KV_FAILURE": "1"})
    for p in (old, same, decode):
        p.wait_health()
    for name, prefill in (("other-release", old), ("same-release", same)):
        body = {"model": "mock-model", "prompt": "one two", "max_tokens": 1, "min_tokens": 1,
                "kv_transfer_params": {"do_remote_decode": True, "do_remote_prefill": False}}
        params = httpx.post(f"{prefill.url}/v1/completions", json=body, timeout=10).json()["kv_transfer_params"]
        httpx.post(f"{decode.url}/v1/completions", headers={"X-Request-ID": name}, timeout=10,
                   json={"model": "mock-model", "prompt": "one two", "max_tokens": 2, "kv_transfer_params": params})
    stats = MockStats.model_validate(httpx.get(f"{decode.url}/mock/stats", timeout=5).json())
    assert {r.request_id: r.kv_check for r in stats.records} == {"other-release": "incompatible",
                                                                 "same-release": "ok"}
