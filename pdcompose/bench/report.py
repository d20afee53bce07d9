"""Show a BenchResult: a rich Table laid out like bench's "Serving Benchmark Result", and one plain line."""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text

from pdcompose.bench.result import BenchResult
from pdcompose.bench.stats import LatencyStats

_LATENCIES = (("ttft", "TTFT", "Time to First Token"),
              ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
              ("itl", "ITL", "Inter-token Latency"),
              ("e2el", "E2EL", "End-to-end Latency"))


_COLUMNS = (("Mean", "mean_ms"), ("Median", "median_ms"), ("P90", "p90_ms"), ("P99", "p99_ms"))


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render_table(result: BenchResult) -> Table:
    cfg, m = result.config, result.metrics
    table = Table(title="Serving Benchmark Result", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_row("Endpoint", cfg.url)
    table.add_row("Model", cfg.model)
    table.add_row("Successful requests", str(m.completed))
    table.add_row("Failed requests", Text(str(m.failed), style="red bold" if m.failed else ""))
    table.add_row("Maximum request concurrency", str(cfg.max_concurrency or "-"))
    if not math.isinf(cfg.request_rate):
        table.add_row("Request rate configured (RPS)", _f(cfg.request_rate))
    table.add_row("Benchmark duration (s)", _f(m.duration_s))
    table.add_row("Total input tokens", str(m.total_input_tokens))
    table.add_row("Total generated tokens", str(m.total_output_tokens))
    table.add_row("Request throughput (req/s)", _f(m.request_throughput))
    table.add_row("Output token throughput (tok/s)", _f(m.output_throughput))
    table.add_row("Total token throughput (tok/s)", _f(m.total_token_throughput), end_section=True)
    for attr, short, header in _LATENCIES:
        stats: LatencyStats | None = getattr(m, attr)
        table.add_row(Text(header, style="italic"), "")
        for label, key in _COLUMNS:
            table.add_row(f"{label} {short} (ms)", _f(None if stats is None else getattr(stats, key)),
                          end_section=key == "p99_ms")
    notes = [f"fingerprint {result.fingerprint}"]
    notes += [f"{k}={v}" for k, v in result.labels.items()]
    if not cfg.stream:
        notes.append("non-streaming: no TTFT/TPOT/ITL")
    if m.usage_missing:
        notes.append(f"{m.usage_missing} responses without usage: token counts are chunk counts")
    notes += [f"error: {e}" for e in m.sample_errors]
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    return table


def summary_line(result: BenchResult) -> str:
    """One plain line, e.g. for logs: counts, throughput and the headline latencies."""
    m = result.metrics

    def pct(s: LatencyStats | None) -> str:
        return "-" if s is None else f"p50 {s.median_ms:.1f} ms p99 {s.p99_ms:.1f} ms"

    return (f"bench {result.config.url}: {m.completed}/{m.completed + m.failed} ok, {m.failed} failed "
            f"in {m.duration_s:.2f} s | {m.request_throughput:.2f} req/s, "
            f"{m.output_throughput:.1f} out tok/s, {m.total_token_throughput:.1f} total tok/s | "
            f"TTFT {pct(m.ttft)} | TPOT {pct(m.tpot)} | E2EL {pct(m.e2el)} | "
            f"fingerprint {result.fingerprint}")
