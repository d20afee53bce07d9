"""vLLM's request histograms and NIXL's transfer metrics, per engine, with vLLM's own names, types and
buckets (vllm/v1/metrics/loggers.py; NixlPromMetrics in nixl_connector.py), so Prometheus rules and
`pdcompose top` read the mock exactly as they read vLLM."""

from __future__ import annotations

import bisect

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
               40.0, 80.0)
REQUEST_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                   240.0, 480.0, 960.0, 1920.0, 7680.0)
NIXL_XFER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 5.0)

HISTOGRAMS = (  # attribute, metric, help, buckets
    ("ttft", "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS),
    ("itl", "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ITL_BUCKETS),
    ("e2e", "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", REQUEST_BUCKETS),
    ("queue", "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
     REQUEST_BUCKETS),
)
NIXL_HISTOGRAMS = (
    ("nixl_xfer", "vllm:nixl_xfer_time_seconds", "Histogram of transfer duration for NIXL KV Cache transfers.",
     NIXL_XFER_BUCKETS),
)
NIXL_COUNTERS = (
    ("nixl_failed_transfers", "vllm:nixl_num_failed_transfers", "Number of failed NIXL KV Cache transfers."),
)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)     # per bucket, not cumulative
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.buckets):
            self.counts[i] += times
        self.count += times
        self.sum += value * times

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        for le, n in zip(self.buckets, self.counts, strict=True):
            running += n
            out.append(f'{name}_bucket{{{labels},le="{le}"}} {float(running)}')
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {float(self.count)}')
        out.append(f"{name}_count{{{labels}}} {float(self.count)}")
        out.append(f"{name}_sum{{{labels}}} {self.sum}")
        return out


class Latencies:
    """One engine's request histograms, and on the decode side its NIXL transfer metrics."""

    def __init__(self) -> None:
        self.ttft = Histogram(TTFT_BUCKETS)
        self.itl = Histogram(ITL_BUCKETS)
        self.e2e = Histogram(REQUEST_BUCKETS)
        self.queue = Histogram(REQUEST_BUCKETS)
        self.nixl_xfer = Histogram(NIXL_XFER_BUCKETS)
        self.nixl_failed_transfers = 0
        self.nixl_seen = False           # NIXL metrics appear once a transfer was attempted (decode side)


def render(engines: list, model: str) -> list[str]:  # engines: pdcompose.mock.engine.Engine
    lines: list[str] = []

    def labels(e) -> str:  # e: pdcompose.mock.engine.Engine
        return f'engine="{e.local_rank}",model_name="{model}"'

    for attr, name, help_text, _ in HISTOGRAMS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for e in engines:
            lines += getattr(e.latencies, attr).lines(name, labels(e))
    nixl = [e for e in engines if e.latencies.nixl_seen]
    if nixl:
        for attr, name, help_text, _ in NIXL_HISTOGRAMS:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
            for e in nixl:
                lines += getattr(e.latencies, attr).lines(name, labels(e))
        for attr, name, help_text in NIXL_COUNTERS:
            lines += [f"# HELP {name}_total {help_text}", f"# TYPE {name}_total counter"]
            lines += [f"{name}_total{{{labels(e)}}} {float(getattr(e.latencies, attr))}" for e in nixl]
    return lines
