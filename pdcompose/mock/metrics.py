"""GET /metrics: vLLM's Prometheus gauges with one `engine="i"` label per local DP engine.

The router counts the distinct engine labels once at start-up and splits the worker into that many
DP targets (protocol notes, section 2), so the label set is the contract; the values are live counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pdcompose.mock.latency import render as render_latencies
from pdcompose.mock.runtime import Runtime

_GAUGES: tuple[tuple[str, str, Callable[[Any, int], float]], ...] = (
    ("vllm:num_requests_running", "Number of requests in model execution batches.",
     lambda e, total: e.running),
    ("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
     lambda e, total: e.waiting),
    ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
     lambda e, total: e.kv_usage(total)),
)
_COUNTERS: tuple[tuple[str, str, Callable[[Any], float]], ...] = (
    ("vllm:prompt_tokens", "Number of prefill tokens processed.", lambda e: e.prompt_tokens_total),
    ("vllm:generation_tokens", "Number of generation tokens processed.", lambda e: e.generation_tokens_total),
)


def render_metrics(rt: Runtime) -> str:
    model = rt.config.served_model_name.replace("\\", "\\\\").replace('"', '\\"')
    engines, total = rt.pool.engines, rt.pool.total_blocks
    lines: list[str] = []
    for name, help_text, value in _GAUGES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        lines += [f'{name}{{engine="{e.local_rank}",model_name="{model}"}} {float(value(e, total))}'
                  for e in engines]
    for name, help_text, count in _COUNTERS:
        lines += [f"# HELP {name}_total {help_text}", f"# TYPE {name}_total counter"]
        lines += [f'{name}_total{{engine="{e.local_rank}",model_name="{model}"}} {float(count(e))}'
                  for e in engines]
    lines += render_latencies(engines, model)
    return "\n".join(lines) + "\n"
