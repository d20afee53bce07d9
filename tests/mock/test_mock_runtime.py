"""Metrics, DP rank headers, records, secrets and the KV check, in-process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from mockutil import NIXL, asgi_client, engine_labels, make_config

from pdcompose.mock.envinfo import sha256_tag
from pdcompose.mock.sidechannel import KVChecker
from pdcompose.wire.mock import MockArgv, MockStats

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_metrics_carry_one_engine_label_per_local_engine() -> None:
    async def scenario() -> tuple[str, str]:
        async with asgi_client(make_config("m", "--data-parallel-size", "3")) as client:
            three = (await client.get("/metrics")).text
        async with asgi_client(make_config("m")) as client:
            one = (await client.get("/metrics")).text
        return three, one
    three, one = asyncio.run(scenario())
    assert engine_labels(three) == ["0", "1", "2"] and engine_labels(one) == ["0"]
    for gauge in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert f"# TYPE {gauge} gauge" in three
        assert f'{gauge}{{engine="2",model_name="m"}} 0.0' in three


def gauge(metrics: str, name: str, engine: int) -> float:
    prefix = f'{name}{{engine="{engine}",'
    return float(next(line for line in metrics.splitlines() if line.startswith(prefix)).rsplit(" ", 1)[1])


def test_running_and_waiting_are_real_counts() -> None:
    """max-num-seqs 1 on engine 1: one request runs, the next waits, engine 0 stays idle."""
    async def scenario() -> tuple[str, str]:
        env = {"PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": "100"}
        config = make_config("m", "--data-parallel-size", "2", "--max-num-seqs", "1", env=env)
        async with asgi_client(config) as client:
            body = {"prompt": "a", "max_tokens": 5}
            slow = [asyncio.create_task(client.post("/v1/completions", json=body,
                                                    headers={"x-data-parallel-rank": "1"})) for _ in range(2)]
            await asyncio.sleep(0.2)
            metrics = (await client.get("/metrics")).text
            await asyncio.gather(*slow)
            after = (await client.get("/metrics")).text
        return metrics, after
    during, after = asyncio.run(scenario())
    assert gauge(during, "vllm:num_requests_running", 1) == 1.0
    assert gauge(during, "vllm:num_requests_waiting", 1) == 1.0
    assert gauge(during, "vllm:kv_cache_usage_perc", 1) > 0.0
    assert gauge(during, "vllm:num_requests_running", 0) == 0.0
    assert gauge(after, "vllm:num_requests_running", 1) == 0.0
    assert gauge(after, "vllm:generation_tokens_total", 1) == 10.0


def test_rank_header_selects_the_local_engine() -> None:
    async def scenario() -> tuple[dict, list[int], MockStats]:
        config = make_config("m", "--data-parallel-size", "2", "--kv-transfer-config", NIXL,
                             env={"VLLM_NIXL_SIDE_CHANNEL_PORT": "6000"})
        async with asgi_client(config) as client:
            prefill = {"prompt": "a b", "kv_transfer_params": {"do_remote_decode": True}}
            params = (await client.post("/v1/completions", json=prefill,
                                        headers={"x-data-parallel-rank": "1", "traceparent": TRACEPARENT})).json()
            statuses = [(await client.post("/v1/completions", json={"prompt": "a"},
                                           headers={"x-data-parallel-rank": rank})).status_code
                        for rank in ("0", "2", "one")]
            stats = MockStats.model_validate((await client.get("/mock/stats")).json())
        return params["kv_transfer_params"], statuses, stats
    params, statuses, stats = asyncio.run(scenario())
    assert params["remote_port"] == 6001 and params["remote_engine_id"] == stats.engine_ids[1]
    assert stats.engine_ids[1].endswith("_dp1") and stats.engine_ids[0].endswith("_dp0")
    assert statuses == [200, 400, 400]
    first = stats.records[0]
    assert (first.rank_header, first.local_rank, first.global_rank, first.traceparent) == ("1", 1, 1, TRACEPARENT)
    assert stats.by_rank == {"1": 1, "0": 1} and stats.errors == 2


def test_stats_count_roles_and_kv_failures_and_reset() -> None:
    async def scenario() -> tuple[MockStats, MockStats, dict]:
        async with asgi_client(make_config("m")) as client:
            await client.post("/v1/completions", json={"prompt": "a", "kv_transfer_params": {"do_remote_decode": True}})
            await client.post("/v1/completions", json={"prompt": "a", "stream": True},
                              headers={"X-Request-ID": "r1"})
            await client.post("/v1/completions", json={"prompt": "a", "kv_transfer_params": {"remote_host": 1}})
            await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}],
                                                            "kv_transfer_params": None})
            before = MockStats.model_validate((await client.get("/mock/stats")).json())
            light = (await client.get("/mock/stats", params={"records": "false"})).json()
            await client.post("/mock/reset")
            after = MockStats.model_validate((await client.get("/mock/stats")).json())
        return before, after, light
    before, after, light = asyncio.run(scenario())
    assert before.requests == 4 and before.by_role == {"prefill": 1, "decode": 3}
    assert before.kv_checks == {"no_params": 2, "malformed": 1} and before.kv_failures == 3
    streamed = before.records[1]
    assert (streamed.request_id, streamed.stream, streamed.completion_tokens) == ("r1", True, 16)
    assert light["records"] == [] and light["requests"] == 4
    assert after.requests == 0 and after.records == [] and after.kv_failures == 0


def test_kv_checker_classifies_params() -> None:
    async def scenario() -> list[str]:
        checker = KVChecker(timeout=0.5)
        base = {"do_remote_prefill": True, "remote_engine_id": "e", "remote_host": "127.0.0.222",
                "remote_port": 1, "remote_block_ids": [[1]]}
        cases = [None, "text", {**base, "remote_host": None}, {**base, "do_remote_prefill": False},
                 {**base, "remote_port": "x"}, {**base, "remote_block_ids": "1"}, base]
        return [await checker.check(case) for case in cases]
    assert asyncio.run(scenario()) == ["no_params", "malformed", "malformed", "malformed", "malformed",
                                       "malformed", "unreachable"]


def test_argv_report_hashes_secrets(tmp_path: Path) -> None:
    canaries = {"HF_TOKEN": "hf_canary_1", "MY_API_KEY": "canary-2", "db_password": "canary-3"}
    token_file = tmp_path / "hf_token"
    token_file.write_text("hf_file_canary_4")
    env = {**canaries, "HF_TOKEN_PATH": str(token_file), "PLAIN_SETTING": "visible"}
    argv = ("m", "--api-key", "canary-5", "--hf-token=canary-6", "--max-num-batched-tokens", "4096")

    async def scenario() -> str:
        async with asgi_client(make_config(*argv, env=env)) as client:
            return (await client.get("/mock/argv")).text
    text = asyncio.run(scenario())
    for secret in [*canaries.values(), "hf_file_canary_4", "canary-5", "canary-6"]:
        assert secret not in text
    report = MockArgv.model_validate(json.loads(text))
    for name, value in canaries.items():
        assert report.env[name] == sha256_tag(value)
    assert report.env["PLAIN_SETTING"] == "visible"
    assert report.hf_token_sha256 == sha256_tag("hf_file_canary_4")
    assert report.argv == ["serve", "m", "--api-key", sha256_tag("canary-5"), f"--hf-token={sha256_tag('canary-6')}",
                           "--max-num-batched-tokens", "4096"]


def test_mock_imports_only_what_the_image_installs() -> None:
    """The mock image installs pdcompose with --no-deps next to pydantic, fastapi and uvicorn only."""
    probe = ("import json, sys, pdcompose.mock.server, pdcompose.wire.vllm, pdcompose.wire.router\n"
             "import pdcompose.wire.mock\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    forbidden = {"typer", "rich", "jinja2", "ruamel", "python_on_whales", "httpx", "yaml"}
    assert not forbidden & set(json.loads(loaded.stdout))
