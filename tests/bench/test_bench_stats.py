"""Percentiles and metrics; expected numbers are numpy's (np.percentile 'linear', np.median, np.std)."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdcompose.bench.stats import RequestOutcome, compute_metrics, latency_stats, median, percentile


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([1, 2, 3, 4], 90, 3.7),
    ([1, 2, 3, 4], 99, 3.97),
    ([1, 2, 3, 4], 50, 2.5),
    ([15, 20, 35, 40, 50], 40, 29.0),
    (list(range(1, 11)), 90, 9.1),
    (list(range(1, 11)), 99, 9.91),
    ([7], 99, 7.0),
    ([1, 2, 3, 4], 0, 1.0),
    ([1, 2, 3, 4], 100, 4.0),
    ([0.1, 0.2, 0.3], 100, 0.3),
])
def test_percentile_matches_numpy(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected, abs=1e-12)


def test_median_matches_numpy() -> None:
    assert median([1, 2, 3, 4, 7, 10]) == 3.5
    assert median([1, 5, 9]) == 5


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"p must be within \[0, 100\]; got 101"):
        percentile([1.0], 101)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200),
       st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100))
def test_percentile_is_monotone_and_bounded(values: list[float], p: float, q: float) -> None:
    s = sorted(values)
    lo, hi = sorted((p, q))
    assert s[0] <= percentile(s, lo) <= percentile(s, hi) <= s[-1]
    assert percentile(s, 100) == s[-1] and percentile(s, 0) == s[0]


def test_latency_stats_in_ms() -> None:
    stats = latency_stats([0.002, 0.004, 0.004, 0.004, 0.005, 0.005, 0.007, 0.009])
    assert stats.count == 8
    assert stats.mean_ms == pytest.approx(5.0)
    assert stats.std_ms == pytest.approx(2.0)          # population std, as numpy
    assert stats.median_ms == pytest.approx(4.5)
    assert stats.p90_ms == pytest.approx(7.6)          # np.percentile(x, 90) * 1000
    assert stats.p99_ms == pytest.approx(8.86)
    assert latency_stats([]) is None


def ok(i: int, ttft: float, latency: float, out: int, prompt: int = 10, itl=None) -> RequestOutcome:
    return RequestOutcome(index=i, traceparent=f"tp{i}", prompt_len=prompt, success=True, status=200,
                          ttft=ttft, latency=latency, output_tokens=out, usage_reported=True,
                          itl=array("d", itl or []))


def test_compute_metrics_like_bench() -> None:
    outcomes = [
        ok(0, 0.1, 0.5, 5, itl=[0.1, 0.1, 0.1, 0.1]),
        ok(1, 0.2, 0.2, 1),                                # one token: no TPOT
        ok(2, 0.3, 1.3, 11, prompt=20, itl=[0.1] * 10),
        RequestOutcome(index=3, traceparent="tp3", prompt_len=10, error="HTTP 500: boom", status=500),
        RequestOutcome(index=4, traceparent="tp4", prompt_len=10, error="HTTP 500: boom", status=500),
        RequestOutcome(index=5, traceparent="tp5", prompt_len=10, error="ConnectError: refused"),
    ]
    m = compute_metrics(outcomes, duration_s=2.0)
    assert (m.completed, m.failed) == (3, 3)
    assert (m.total_input_tokens, m.total_output_tokens) == (40, 17)
    assert m.request_throughput == 1.5 and m.output_throughput == 8.5 and m.total_token_throughput == 28.5
    assert m.ttft.count == 3 and m.ttft.mean_ms == pytest.approx(200.0)
    assert m.tpot.count == 2                              # (0.5-0.1)/4 and (1.3-0.3)/10
    assert m.tpot.mean_ms == pytest.approx(100.0)
    assert m.itl.count == 14 and m.itl.median_ms == pytest.approx(100.0)
    assert m.e2el.p99_ms == pytest.approx(1000 * (0.5 + 0.98 * 0.8))
    assert m.sample_errors == ["HTTP 500: boom", "ConnectError: refused"]
    assert m.usage_missing == 0


def test_all_failed_and_non_streaming() -> None:
    m = compute_metrics([RequestOutcome(index=0, traceparent="t", prompt_len=3, error="x")], 1.0)
    assert m.completed == 0 and m.failed == 1 and m.e2el is None and m.ttft is None
    ns = RequestOutcome(index=0, traceparent="t", prompt_len=3, success=True, latency=0.5, output_tokens=4)
    m = compute_metrics([ns], 1.0)
    assert m.ttft is None and m.tpot is None and m.itl is None and m.e2el.mean_ms == 500
    assert m.usage_missing == 1
    with pytest.raises(ValueError, match="duration_s: 0 must be positive"):
        compute_metrics([], 0)


def test_sample_errors_are_capped() -> None:
    outcomes = [RequestOutcome(index=i, traceparent="t", prompt_len=1, error=f"e{i}") for i in range(20)]
    assert compute_metrics(outcomes, 1.0).sample_errors == ["e0", "e1", "e2", "e3", "e4"]
