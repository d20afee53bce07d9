"""run_bench against real `python -m pdcompose.mock serve` processes on loopback, without a router
(the mock then serves plain requests in the decode role)."""

from __future__ import annotations

import time

import httpx

from pdcompose.bench import BenchConfig, BenchResult, Progress, run_bench
from pdcompose.bench.pairing import verify_pairing
from pdcompose.bench.workload import Workload
from pdcompose.wire.mock import MockStats

from .conftest import MockServer


def config(server: MockServer | str, **kw) -> BenchConfig:
    url = server if isinstance(server, str) else server.url
    return BenchConfig(**({"base_url": url, "model": "mock-model", "num_prompts": 24, "max_concurrency": 8,
                           "random_input_len": 32, "random_output_len": 6, "seed": 1} | kw))


def mock_stats(server: MockServer) -> MockStats:
    return MockStats.model_validate_json(httpx.get(f"{server.url}/mock/stats", timeout=10).content)


def check_streamed(result: BenchResult, cfg: BenchConfig) -> None:
    m = result.metrics
    assert (m.completed, m.failed, m.sample_errors) == (cfg.num_prompts, 0, [])
    assert m.total_input_tokens == sum(Workload(cfg).input_lens)          # usage.prompt_tokens, word count
    assert m.total_output_tokens == sum(Workload(cfg).output_lens) and m.usage_missing == 0
    for r in result.requests:
        assert r.success and r.status == 200 and 0 < r.ttft_ms <= r.e2el_ms
    assert m.tpot.mean_ms > 1.0                    # the mock spends 2 ms per token
    assert m.ttft.p99_ms <= m.e2el.p99_ms


def test_streamed_completions(paced_mock: MockServer) -> None:
    paced_mock.reset()
    cfg = config(paced_mock)
    updates: list[Progress] = []
    result = run_bench(cfg, fingerprint="fp-1", labels={"case": "completions"}, progress=updates.append)
    check_streamed(result, cfg)
    assert result.metrics.itl.count == cfg.num_prompts * (cfg.random_output_len - 1)
    assert updates[-1] == Progress(done=24, failed=0, total=24)
    assert result.fingerprint == "fp-1" and result.labels == {"case": "completions"}
    assert result.started_at <= result.finished_at

    # the server saw each traceparent once, with the prompt length the client sent
    records = {r.traceparent: r for r in mock_stats(paced_mock).records}
    assert set(records) == set(result.traceparents_ok)
    sent = {r.traceparent: r.prompt_tokens for r in result.requests}
    assert all(records[tp].prompt_tokens == n and records[tp].stream for tp, n in sent.items())


def test_streamed_chat(paced_mock: MockServer) -> None:
    cfg = config(paced_mock, endpoint="/v1/chat/completions", random_range_ratio=0.5)
    result = run_bench(cfg, fingerprint="fp")
    check_streamed(result, cfg)
    # bench counts vLLM's leading role-only delta as the first token: one more ITL per request
    assert result.metrics.itl.count == sum(Workload(cfg).output_lens)


def test_non_streamed_completions_and_chat(paced_mock: MockServer) -> None:
    for endpoint in ("/v1/completions", "/v1/chat/completions"):
        cfg = config(paced_mock, endpoint=endpoint, stream=False)
        m = run_bench(cfg, fingerprint="fp").metrics
        assert (m.completed, m.failed) == (24, 0), m.sample_errors
        assert m.total_output_tokens == 24 * 6 and m.total_input_tokens == 24 * 32
        assert m.ttft is None and m.itl is None and m.tpot is None and m.e2el.mean_ms > 6 * 2


def test_request_rate_paces_the_run(paced_mock: MockServer) -> None:
    cfg = config(paced_mock, num_prompts=20, max_concurrency=None, request_rate=40.0)
    result = run_bench(cfg, fingerprint="fp")
    assert result.metrics.completed == 20
    assert result.metrics.duration_s >= 0.45                 # the last request is released at 20/40 s


def test_nothing_listening_means_every_request_failed(tmp_path) -> None:
    cfg = config("http://127.0.0.123:18123", num_prompts=10, timeout=5)
    updates: list[Progress] = []
    result = run_bench(cfg, fingerprint="fp", progress=updates.append)
    m = result.metrics
    assert (m.completed, m.failed) == (0, 10) and updates[-1] == Progress(done=10, failed=10, total=10)
    assert m.e2el is None and m.request_throughput == 0
    assert len(m.sample_errors) == 1 and m.sample_errors[0].startswith("ConnectError: 127.0.0.123:18123")
    assert all(r.status is None and not r.success for r in result.requests)
    assert BenchResult.load(result.save(tmp_path / "r.json")) == result


def test_pairing_sees_only_decode_legs_without_a_router(free_mock: MockServer) -> None:
    free_mock.reset()
    result = run_bench(config(free_mock, num_prompts=12), fingerprint="fp")
    report = verify_pairing(result.traceparents_ok, [free_mock.url])
    assert report.checked == 12 and report.lost == 12 and not report.ok
    assert report.by_worker == {free_mock.url: {"prefill": 0, "decode": 12}} and report.unknown_records == 0


def test_512_concurrent_streams(free_mock: MockServer) -> None:
    cfg = config(free_mock, num_prompts=1536, max_concurrency=512, random_input_len=64, random_output_len=16)
    cpu0, t0 = free_mock.cpu_seconds(), time.monotonic()
    result = run_bench(cfg, fingerprint="fp")
    wall, server_cpu = time.monotonic() - t0, free_mock.cpu_seconds() - cpu0
    m = result.metrics
    assert (m.completed, m.failed) == (1536, 0), m.sample_errors
    assert m.total_output_tokens == 1536 * 16
    print(f"\n512 streams: {m.request_throughput:.0f} req/s, {m.output_throughput:.0f} tok/s, "
          f"wall {wall:.2f} s, server CPU {server_cpu:.2f} s")
