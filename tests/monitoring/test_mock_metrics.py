"""The mock's /metrics carries vLLM's request histograms and, on the decode, NIXL's transfer metrics:
the real names, types, buckets and labels (`engine` = DP rank, `model_name`), so Prometheus's rules and
`pdcompose top` read a rehearsal as they read vLLM."""

from __future__ import annotations

import asyncio
import re

import httpx

from pdcompose.mock.app import create_app
from pdcompose.mock.config import parse_argv

NIXL = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
# The decode below pulls from a side channel nobody serves: vLLM 0.13.0's engine would die of it
# (pdcompose.mock.kvfail); the knob keeps it alive so that the failed pull is counted and the stream runs.
SLOW = {"PDCOMPOSE_MOCK_PREFILL_MS_PER_1K": "0", "PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": "5",
        "PDCOMPOSE_MOCK_SURVIVE_KV_FAILURE": "1"}


def client(*args: str) -> httpx.AsyncClient:
    app = create_app(parse_argv(["serve", "m", "--kv-transfer-config", NIXL, *args], SLOW))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock", timeout=10)


def samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, value = line.rsplit(" ", 1)
            out[labels[len(name):]] = float(value)
    return out


def types(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def test_request_histograms_and_nixl_metrics_with_vllms_names():
    async def scenario() -> tuple[str, str]:
        async with client("--data-parallel-size", "2") as prefill, client() as decode:
            body = {"prompt": "hello there", "max_tokens": 1, "stream": False,
                    "kv_transfer_params": {"do_remote_decode": True}}
            answer = (await prefill.post("/v1/completions", json=body, headers={"x-data-parallel-rank": "1"})).json()
            params = answer["kv_transfer_params"]    # points at a side channel nobody serves here: a failed pull
            stream = {"prompt": "hello there", "max_tokens": 8, "stream": True, "kv_transfer_params": params}
            async with decode.stream("POST", "/v1/completions", json=stream) as response:
                async for _ in response.aiter_bytes():
                    pass
            return (await prefill.get("/metrics")).text, (await decode.get("/metrics")).text
    p, d = asyncio.run(scenario())
    for text in (p, d):
        t = types(text)
        for name in ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                     "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds"):
            assert t[name] == "histogram"
    # the prefill answered on engine 1: its TTFT, e2e and queue time are counted there, not on engine 0
    assert samples(p, "vllm:time_to_first_token_seconds_count") == {
        '{engine="0",model_name="m"}': 0.0, '{engine="1",model_name="m"}': 1.0}
    assert "vllm:nixl_xfer_time_seconds" not in p                  # NIXL metrics are the decode's
    # the decode: one first token, 7 inter-token gaps, buckets cumulative up to +Inf = count
    assert samples(d, "vllm:time_to_first_token_seconds_count") == {'{engine="0",model_name="m"}': 1.0}
    assert samples(d, "vllm:inter_token_latency_seconds_count") == {'{engine="0",model_name="m"}': 7.0}
    buckets = list(samples(d, "vllm:inter_token_latency_seconds_bucket").values())
    assert buckets == sorted(buckets) and buckets[-1] == 7.0 and len(buckets) == 20   # vLLM's 19 + Inf
    assert types(d)["vllm:nixl_num_failed_transfers_total"] == "counter"
    assert types(d)["vllm:nixl_xfer_time_seconds"] == "histogram"
    assert samples(d, "vllm:nixl_num_failed_transfers_total") == {'{engine="0",model_name="m"}': 1.0}
