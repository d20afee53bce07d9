"""`monitoring:` in the topology: a Prometheus on one host scraping every API server and the router.

Durations here are Prometheus's (`500ms`, `15s`, `1m`): SLOs on TTFT and inter-token latency are
often below a second, which the whole-second durations of the rest of the file cannot say.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema

from pdcompose.frozen import Strict
from pdcompose.topology.types import ImageRef, Name

_DURATION = re.compile(r"(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
MAX_MS = 7 * 86_400_000


def _millis(value: Any) -> int:
    """A duration as whole milliseconds: 0.5 (seconds), "500ms", "1.5s", "15s", "2m", "1h"."""
    ms: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        ms = float(value) * 1000
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match:
            ms = float(match.group(1)) * _UNIT_MS[match.group(2)]
    if ms is not None and ms == ms and 1 <= ms <= MAX_MS and ms == int(ms):
        return int(ms)
    raise ValueError(f"{value!r} is not a duration: write 500ms, 1.5s, 15s, 2m or 1h (or seconds as a "
                     "number), from 1ms to 7 days")


Millis = Annotated[int, PlainValidator(_millis), WithJsonSchema({"anyOf": [
    {"type": "number", "exclusiveMinimum": 0},
    {"type": "string", "pattern": r"^\d+(\.\d{1,3})?(ms|s|m|h)$"}]})]


def prom_duration(ms: int) -> str:
    """Whole milliseconds as Prometheus writes them: 500ms, 15s, 2m, 1h."""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


class Slo(Strict):
    """Alert when a role's p99 stays above these (for `monitoring.alert_for`)."""

    ttft_p99: Millis | None = Field(None, description="time to first token, p99 per role, e.g. 2s")
    itl_p99: Millis | None = Field(None, description="inter-token latency, p99 on the decode, e.g. 100ms")


class Monitoring(Strict):
    """A Prometheus container scraping every vLLM API server and the router, with pdcompose's rules."""

    enabled: bool = Field(False, description="render and deploy the Prometheus container")
    host: Name | None = Field(None, description="where Prometheus runs (default: the router's host)")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(9090, description="Prometheus's web and API port")
    scrape_interval: Millis = Field(15_000, description="how often every target is scraped (and rules evaluated)")
    alert_for: Millis = Field(60_000, description="how long a condition holds before its alert fires")
    retention: Millis = Field(7 * 86_400_000, description="how long Prometheus keeps samples (at most 7 days)")
    kv_cache_alert: Annotated[float, Field(gt=0, le=1)] = Field(
        0.95, description="KV-cache usage (0-1) above which an engine is near full")
    image: ImageRef | None = Field(None, description="the Prometheus image (default: pdcompose/prometheus, "
                                                     "images/build.sh prometheus)")
    slo: Slo = Field(default_factory=Slo, description="latency objectives: an alert fires when one is missed")


__all__ = ["Millis", "Monitoring", "Slo", "prom_duration"]
