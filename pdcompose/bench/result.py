"""A benchmark result as data: config, metrics, when, against what (fingerprint), and per request.

Like `vllm bench serve --save-result`, the result keeps per-request numbers (here with the traceparent,
so that a saved run can still be checked against the workers' records; see pairing.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ConfigDict, Field

from pdcompose import __version__
from pdcompose.bench.stats import BenchMetrics, RequestOutcome
from pdcompose.bench.workload import BenchConfig
from pdcompose.frozen import Frozen

SCHEMA_VERSION = 1


class RequestRecord(Frozen):
    index: int
    traceparent: str
    success: bool
    status: int | None = None
    ttft_ms: float | None = None
    e2el_ms: float | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    error: str = ""

    @classmethod
    def from_outcome(cls, o: RequestOutcome) -> RequestRecord:
        return cls(index=o.index, traceparent=o.traceparent, success=o.success, status=o.status,
                   ttft_ms=None if o.ttft is None else o.ttft * 1000,
                   e2el_ms=o.latency * 1000 if o.success else None,
                   prompt_tokens=o.prompt_len if o.success else 0, output_tokens=o.output_tokens,
                   error=o.error)


class BenchResult(Frozen):
    model_config = ConfigDict(ser_json_inf_nan="strings")

    schema_version: int = SCHEMA_VERSION
    pdcompose_version: str = __version__
    fingerprint: str = Field(description="hash of the deployed topology, given by the caller")
    labels: dict[str, str] = Field(default_factory=dict)
    config: BenchConfig
    started_at: datetime
    finished_at: datetime
    metrics: BenchMetrics
    requests: list[RequestRecord] = Field(default_factory=list)

    @classmethod
    def build(cls, *, config: BenchConfig, metrics: BenchMetrics, outcomes: Sequence[RequestOutcome],
              started_at: datetime, finished_at: datetime, fingerprint: str,
              labels: dict[str, str] | None = None) -> BenchResult:
        return cls(config=config, metrics=metrics, started_at=started_at, finished_at=finished_at,
                   fingerprint=fingerprint, labels=dict(sorted((labels or {}).items())),
                   requests=[RequestRecord.from_outcome(o) for o in outcomes])

    @property
    def traceparents_ok(self) -> list[str]:
        """The traceparents of the successful requests: what pairing.py checks."""
        return [r.traceparent for r in self.requests if r.success]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        from pdcompose.files import write_file

        return write_file(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> BenchResult:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
