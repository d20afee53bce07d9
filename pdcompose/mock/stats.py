"""Per-request records and counters behind `GET /mock/stats`.

Records are plain dicts with exactly `MockRecord`'s keys, appended to a bounded deque: O(1) per
request, and a streaming request updates its own record's `completion_tokens` as it goes. Counters
are kept separately so they stay exact after old records are dropped.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from pdcompose.wire.mock import is_kv_failure


@dataclass(frozen=True)
class RequestMeta:
    """What the headers say about a request, read once when it arrives."""

    path: str
    request_id: str | None
    traceparent: str | None
    rank_header: str | None
    arrived: float


def request_meta(path: str, headers: Any) -> RequestMeta:
    return RequestMeta(path, headers.get("x-request-id"), headers.get("traceparent"),
                       headers.get("x-data-parallel-rank"), time.time())


class Stats:
    def __init__(self, max_records: int) -> None:
        self._max_records = max_records
        self.reset()

    def reset(self) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=self._max_records)
        self.requests = 0
        self.by_role: Counter[str] = Counter()
        self.by_rank: Counter[str] = Counter()
        self.kv_checks: Counter[str] = Counter()
        self.kv_failures = 0
        self.errors = 0
        self.dropped = 0

    def add(self, meta: RequestMeta, *, status: int, role: str | None = None, engine: Any = None,
            stream: bool = False, prompt_tokens: int = 0, kv_transfer_params: Any = None,
            kv_check: str | None = None) -> dict[str, Any]:
        """Count a request and keep its record; the caller may update `completion_tokens` later."""
        record = {
            "t": meta.arrived, "path": meta.path, "role": role, "request_id": meta.request_id,
            "traceparent": meta.traceparent, "rank_header": meta.rank_header,
            "local_rank": engine.local_rank if engine else None,
            "global_rank": engine.global_rank if engine else None,
            "stream": stream, "prompt_tokens": prompt_tokens, "completion_tokens": 0,
            "kv_transfer_params": kv_transfer_params, "kv_check": kv_check, "status": status,
        }
        self.requests += 1
        if role:
            self.by_role[role] += 1
        if engine:
            self.by_rank[str(engine.global_rank)] += 1
        if kv_check:
            self.kv_checks[kv_check] += 1
            self.kv_failures += is_kv_failure(kv_check)
        self.errors += status >= 400
        if len(self.records) == self._max_records:
            self.dropped += 1                   # the deque drops its oldest record on append
        self.records.append(record)
        return record

    def snapshot(self, *, ready: bool, engine_ids: list[str], with_records: bool) -> dict[str, Any]:
        """The `MockStats` JSON shape."""
        return {
            "ready": ready, "engine_ids": engine_ids, "requests": self.requests,
            "by_role": dict(self.by_role), "by_rank": dict(self.by_rank), "kv_checks": dict(self.kv_checks),
            "kv_failures": self.kv_failures, "errors": self.errors, "records_dropped": self.dropped,
            "records": list(self.records) if with_records else [],
        }
