"""BenchResult JSON round trip, and the rich and one-line renderings of it."""

from __future__ import annotations

import json
import math
from array import array
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from pdcompose.bench.report import render_table, summary_line
from pdcompose.bench.result import BenchResult
from pdcompose.bench.stats import RequestOutcome, compute_metrics
from pdcompose.bench.workload import BenchConfig


def make_result(**cfg) -> BenchResult:
    config = BenchConfig(**({"base_url": "http://r:8123", "model": "m", "num_prompts": 3,
                             "max_concurrency": 2} | cfg))
    outcomes = [
        RequestOutcome(index=0, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01", prompt_len=7,
                       success=True, status=200, ttft=0.01, latency=0.05, itl=array("d", [0.02, 0.02]),
                       output_tokens=3, usage_reported=True),
        RequestOutcome(index=1, traceparent="00-" + "c" * 32 + "-" + "d" * 16 + "-01", prompt_len=7,
                       success=True, status=200, ttft=0.02, latency=0.04, itl=array("d", [0.01, 0.01]),
                       output_tokens=3, usage_reported=True),
        RequestOutcome(index=2, traceparent="00-" + "e" * 32 + "-" + "f" * 16 + "-01", prompt_len=7,
                       status=503, error="HTTP 503: overloaded"),
    ]
    t0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return BenchResult.build(config=config, metrics=compute_metrics(outcomes, 0.5), outcomes=outcomes,
                             started_at=t0, finished_at=t0, fingerprint="sha256:abc123",
                             labels={"run": "7", "case": "smoke"})


def test_round_trip_through_json_file(tmp_path: Path) -> None:
    result = make_result()
    path = result.save(tmp_path / "deep" / "result.json")
    loaded = BenchResult.load(path)
    assert loaded == result
    assert math.isinf(loaded.config.request_rate)
    data = json.loads(path.read_text())               # strict JSON: inf is the string "Infinity"
    assert data["config"]["request_rate"] == "Infinity"
    assert list(data["labels"]) == ["case", "run"]
    assert data["requests"][2] == {
        "index": 2, "traceparent": result.requests[2].traceparent, "success": False, "status": 503,
        "ttft_ms": None, "e2el_ms": None, "prompt_tokens": 0, "output_tokens": 0,
        "error": "HTTP 503: overloaded"}


def test_traceparents_ok_lists_only_successes() -> None:
    result = make_result()
    assert result.traceparents_ok == [result.requests[0].traceparent, result.requests[1].traceparent]


def render(result: BenchResult) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(render_table(result))
    return console.export_text()


def test_table_shows_bench_rows() -> None:
    text = render(make_result())
    for row in ("Successful requests", "Failed requests", "Request throughput (req/s)", "Mean TTFT (ms)",
                "P99 TPOT (ms)", "Median ITL (ms)", "P90 E2EL (ms)", "fingerprint sha256:abc123", "run=7",
                "error: HTTP 503: overloaded", "http://r:8123/v1/completions"):
        assert row in text, row
    assert "Request rate configured" not in text


def test_table_for_a_non_streaming_rate_limited_run() -> None:
    result = make_result(stream=False, request_rate=5.0)
    text = render(result)
    assert "Request rate configured (RPS)" in text and "non-streaming" in text


def test_summary_line() -> None:
    line = summary_line(make_result())
    assert "\n" not in line
    assert line.startswith("bench http://r:8123/v1/completions: 2/3 ok, 1 failed in 0.50 s | 4.00 req/s")
    assert "TTFT p50 15.0 ms" in line and "fingerprint sha256:abc123" in line
