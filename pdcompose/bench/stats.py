"""Per-request outcomes -> the metrics `vllm bench serve` prints (its `calculate_metrics`), without numpy.

Differences from bench, on purpose:
- an empty sample (e.g. TTFT of a non-streaming run, or no successful request) is `None`, not 0;
- without a usage frame bench re-tokenises the text (or counts 1 token when it has no tokenizer);
  pdcompose counts the token chunks instead and reports how many requests needed that fallback.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from pdcompose.frozen import Frozen

MAX_SAMPLE_ERRORS = 5


@dataclass(slots=True)
class RequestOutcome:
    """What the client measured for one request (bench's `RequestFuncOutput`); times in seconds."""

    index: int
    traceparent: str
    prompt_len: int                     # the words sent; replaced by usage.prompt_tokens when reported
    start: float = 0.0                  # perf_counter() when the request was sent
    success: bool = False
    status: int | None = None           # HTTP status, None when no response arrived
    ttft: float | None = None           # None when not streaming
    latency: float = 0.0                # to the last token chunk (streaming) or the whole body
    itl: array = field(default_factory=lambda: array("d"))   # 8 bytes per gap: runs reach 10**7 tokens
    output_tokens: int = 0
    usage_reported: bool = False
    error: str = ""


class LatencyStats(Frozen):
    count: int
    mean_ms: float
    median_ms: float
    std_ms: float
    p90_ms: float
    p99_ms: float


class BenchMetrics(Frozen):
    completed: int
    failed: int
    duration_s: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float           # completed / duration
    output_throughput: float            # output tokens / duration
    total_token_throughput: float       # (input + output tokens) / duration
    ttft: LatencyStats | None
    tpot: LatencyStats | None           # (latency - ttft) / (output_tokens - 1), requests with > 1 token
    itl: LatencyStats | None
    e2el: LatencyStats | None
    usage_missing: int = 0              # successful requests whose token count is a chunk count
    sample_errors: list[str] = []       # up to MAX_SAMPLE_ERRORS distinct messages


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """numpy.percentile(values, p) with its default 'linear' method, on already sorted values."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of an empty sample")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile: p must be within [0, 100]; got {p}")
    pos = (n - 1) * (p / 100)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    a, b, t = sorted_values[lo], sorted_values[hi], pos - lo
    # numpy's _lerp: interpolate from the nearer end, so p=100 returns the maximum exactly.
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def median(sorted_values: Sequence[float]) -> float:
    """numpy.median: the middle value, or the mean of the two middle values."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("median of an empty sample")
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


def latency_stats(values_s: Sequence[float]) -> LatencyStats | None:
    """Mean, median, population std, p90 and p99 of seconds, reported in milliseconds."""
    if not values_s:
        return None
    ms = sorted(v * 1000 for v in values_s)
    n = len(ms)
    mean = math.fsum(ms) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in ms) / n)
    return LatencyStats(count=n, mean_ms=mean, median_ms=median(ms), std_ms=std,
                        p90_ms=percentile(ms, 90), p99_ms=percentile(ms, 99))


def compute_metrics(outcomes: Sequence[RequestOutcome], duration_s: float) -> BenchMetrics:
    if duration_s <= 0:
        raise ValueError(f"duration_s: {duration_s} must be positive")
    ok = [o for o in outcomes if o.success]
    total_in = sum(o.prompt_len for o in ok)
    total_out = sum(o.output_tokens for o in ok)
    ttfts = [o.ttft for o in ok if o.ttft is not None]
    tpots = [(o.latency - o.ttft) / (o.output_tokens - 1)
             for o in ok if o.ttft is not None and o.output_tokens > 1]
    itls = [x for o in ok for x in o.itl]
    errors: list[str] = []
    for o in outcomes:
        if not o.success and o.error not in errors:
            errors.append(o.error)
            if len(errors) == MAX_SAMPLE_ERRORS:
                break
    return BenchMetrics(
        completed=len(ok),
        failed=len(outcomes) - len(ok),
        duration_s=duration_s,
        total_input_tokens=total_in,
        total_output_tokens=total_out,
        request_throughput=len(ok) / duration_s,
        output_throughput=total_out / duration_s,
        total_token_throughput=(total_in + total_out) / duration_s,
        ttft=latency_stats(ttfts),
        tpot=latency_stats(tpots),
        itl=latency_stats(itls),
        e2el=latency_stats([o.latency for o in ok]),
        usage_missing=sum(1 for o in ok if not o.usage_reported),
        sample_errors=errors,
    )
