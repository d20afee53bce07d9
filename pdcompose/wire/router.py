"""vllm-router 0.1.17's own endpoints (what deploy and status read)."""

from __future__ import annotations

from pdcompose.wire import OpenModel


class PoolHealth(OpenModel):
    healthy: int
    total: int


class RouterReadiness(OpenModel):
    """`GET /readiness` in PD mode. The router splits a worker whose /metrics shows K engines into K
    targets (url@0 .. url@K-1), so these totals count engines, not API servers."""

    status: str
    prefill: PoolHealth
    decode: PoolHealth


class RouterWorker(OpenModel):
    url: str
    worker_type: str = ""
    is_healthy: bool = False


class RouterWorkers(OpenModel):
    """`GET /workers`."""

    workers: list[RouterWorker] = []


def worker_base_url(url: str) -> str:
    """`http://10.0.0.10:8087@3` (a DP target of a worker) -> `http://10.0.0.10:8087`."""
    head, sep, rank = url.rpartition("@")
    return head if sep and rank.isdigit() else url
