"""Load generator: `vllm bench serve --dataset-name random` semantics, as a library.

    result = run_bench(BenchConfig(base_url="http://router:8123", model="m", num_prompts=512,
                                   max_concurrency=64), fingerprint=topology_hash)

Stages: workload.py (what to send) -> client.py (send, measure) -> stats.py (metrics) -> result.py
(data, JSON). report.py renders a result, vllm_cmd.py gives the equivalent `vllm bench serve` command,
pairing.py checks the mock workers' records against the traceparents a run sent. sweep.py runs one
benchmark per point (concurrency, rate, lengths) and writes a summary; charts.py draws sweeps (PNG, HTML).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pdcompose.bench.client import Progress, ProgressCallback, run_requests
from pdcompose.bench.result import BenchResult, RequestRecord
from pdcompose.bench.stats import BenchMetrics, LatencyStats, compute_metrics
from pdcompose.bench.workload import BenchConfig

__all__ = ["BenchConfig", "BenchMetrics", "BenchResult", "LatencyStats", "Progress", "ProgressCallback",
           "RequestRecord", "run_bench", "run_bench_async"]


async def run_bench_async(config: BenchConfig, *, fingerprint: str, labels: dict[str, str] | None = None,
                          progress: ProgressCallback | None = None) -> BenchResult:
    """Run the benchmark in the current event loop. Request failures are counted, never raised."""
    started = datetime.now(UTC)
    outcomes, duration = await run_requests(config, progress=progress)
    finished = datetime.now(UTC)
    return BenchResult.build(config=config, metrics=compute_metrics(outcomes, duration), outcomes=outcomes,
                             started_at=started, finished_at=finished, fingerprint=fingerprint,
                             labels=labels)


def run_bench(config: BenchConfig, *, fingerprint: str, labels: dict[str, str] | None = None,
              progress: ProgressCallback | None = None) -> BenchResult:
    """Synchronous wrapper: runs `run_bench_async` in a new event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run_bench: an event loop is already running here; await run_bench_async() instead")
    return asyncio.run(run_bench_async(config, fingerprint=fingerprint, labels=labels, progress=progress))
