"""Prove from the mock workers' own records that each request took exactly one prefill and one decode leg.

Each benchmark request carries a unique W3C `traceparent`; the router copies it to both legs, and every
mock worker records it with the leg's role, the router's `X-Request-ID`, the `kv_transfer_params`
(returned by a prefill, received by a decode) and the decode's simulated NIXL check (`GET /mock/stats`,
`pdcompose.wire.mock.MockStats`). Requests are matched by the trace id (the 32 hex digits), so a proxy
that starts a child span on the way would not break the match.

Each checked request lands in exactly one bucket, tested in this order: lost (a leg is missing),
duplicated (a leg seen twice), mismatched (the legs carry different X-Request-IDs), kv_mismatched
(decode received other params than the prefill returned), kv_check_failed (the decode's handshake
check was not "ok"), else paired.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import httpx

from pdcompose.errors import PdcomposeError
from pdcompose.frozen import Frozen
from pdcompose.wire.mock import MockRecord, MockStats, is_kv_failure

MAX_SAMPLES = 10
STATS_PATH = "/mock/stats"


class PairingError(PdcomposeError):
    """A worker's /mock/stats could not be read, so the pairing cannot be checked."""


class PairingReport(Frozen):
    checked: int
    paired: int
    lost: int
    duplicated: int
    mismatched: int
    kv_mismatched: int
    kv_check_failed: int
    unknown_records: int          # records with a trace id this run did not send (other traffic)
    records_dropped: int          # records the workers discarded (PDCOMPOSE_MOCK_MAX_RECORDS): inconclusive
    by_worker: dict[str, dict[str, int]]    # worker -> role -> legs of this run
    samples: list[str]            # a few problems, one line each

    @property
    def ok(self) -> bool:
        return self.checked > 0 and self.paired == self.checked and self.records_dropped == 0


def trace_id(traceparent: str) -> str:
    parts = traceparent.strip().split("-")
    return parts[1].lower() if len(parts) == 4 else traceparent.strip().lower()


def check_pairing(traceparents: Iterable[str], stats: Mapping[str, MockStats]) -> PairingReport:
    """Pure: the traceparents of the run's successful requests against each worker's stats."""
    sent = {trace_id(tp) for tp in traceparents}
    legs: dict[str, dict[str, list[MockRecord]]] = defaultdict(lambda: {"prefill": [], "decode": []})
    by_worker: dict[str, dict[str, int]] = {}
    unknown = 0
    for worker, st in sorted(stats.items()):
        counts = {"prefill": 0, "decode": 0}
        for rec in st.records:
            tid = trace_id(rec.traceparent) if rec.traceparent else None
            if tid not in sent:
                unknown += 1
                continue
            if rec.role in counts:
                counts[rec.role] += 1
                legs[tid][rec.role].append(rec)
        by_worker[worker] = counts

    buckets = dict.fromkeys(("paired", "lost", "duplicated", "mismatched", "kv_mismatched",
                             "kv_check_failed"), 0)
    samples: list[str] = []
    for tid in sorted(sent):
        entry = legs.get(tid, {})
        bucket, why = _classify(entry.get("prefill", []), entry.get("decode", []))
        buckets[bucket] += 1
        if bucket != "paired" and len(samples) < MAX_SAMPLES:
            samples.append(f"trace {tid}: {bucket}: {why}")
    return PairingReport(checked=len(sent), unknown_records=unknown, by_worker=by_worker, samples=samples,
                         records_dropped=sum(st.records_dropped for st in stats.values()), **buckets)


def _classify(pre: list[MockRecord], dec: list[MockRecord]) -> tuple[str, str]:
    if not pre or not dec:
        return "lost", f"{len(pre)} prefill and {len(dec)} decode legs recorded"
    if len(pre) > 1 or len(dec) > 1:
        return "duplicated", f"{len(pre)} prefill and {len(dec)} decode legs recorded"
    p, d = pre[0], dec[0]
    if p.request_id != d.request_id:
        return "mismatched", f"X-Request-ID {p.request_id!r} on prefill, {d.request_id!r} on decode"
    if p.kv_transfer_params != d.kv_transfer_params:
        return "kv_mismatched", (f"prefill returned {p.kv_transfer_params!r}, "
                                 f"decode received {d.kv_transfer_params!r}")
    if is_kv_failure(d.kv_check) or d.kv_check is None:
        return "kv_check_failed", f"decode kv_check {d.kv_check!r}"
    return "paired", ""


def stats_url(worker: str) -> str:
    worker = worker.rstrip("/")
    return worker if worker.endswith(STATS_PATH) else worker + STATS_PATH


def fetch_stats(workers: Iterable[str], *, timeout: float = 30.0) -> dict[str, MockStats]:
    """GET /mock/stats from each worker (base URL or the stats URL itself), keyed by the URL given."""
    out: dict[str, MockStats] = {}
    with httpx.Client(timeout=timeout) as client:
        for worker in workers:
            url = stats_url(worker)
            try:
                resp = client.get(url)
                resp.raise_for_status()
                out[worker] = MockStats.model_validate_json(resp.content)
            except (httpx.HTTPError, ValueError) as exc:
                raise PairingError(f"{url}: cannot read mock stats ({type(exc).__name__}: {exc})") from exc
    return out


def verify_pairing(traceparents: Iterable[str], workers: Iterable[str], *,
                   timeout: float = 30.0) -> PairingReport:
    """Fetch every worker's stats and check them (`BenchResult.traceparents_ok` gives the first argument)."""
    return check_pairing(traceparents, fetch_stats(workers, timeout=timeout))
