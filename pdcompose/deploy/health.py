"""Is an API server ready? Pure judgements, separate from the loop that waits for them.

A vLLM node is ready when `/health` answers 200 AND `/v1/models` lists the served model (the same
pair srtctl and llm-d's no-Kubernetes guide wait for): /health alone turns 200 before the model is
servable on some versions. The router is ready when its `/health` is 200 and `/readiness` counts
every worker of the topology healthy. The (status, body) they judge come from whichever way the host
is reached (engine/access.py: directly, or from inside the host through its Docker context).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import ValidationError

from pdcompose.wire.router import RouterReadiness
from pdcompose.wire.vllm import ModelList, model_served

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str


def judge_api(health_status: int | None, models_body: bytes | None, model: str, error: str | None = None) -> Probe:
    if error is not None:
        return Probe(False, error)
    if health_status != 200:
        return Probe(False, f"/health {health_status}")
    try:
        models = ModelList.model_validate_json(models_body or b"")
    except ValidationError:
        return Probe(False, "/v1/models is not a model list")
    if not model_served(models, model):
        served = ", ".join(m.id for m in models.data) or "nothing"
        return Probe(False, f"/v1/models lists {served}, not {model}")
    return Probe(True, f"serving {model}")


def judge_router(health_status: int | None, readiness_body: bytes | None, prefill: int, decode: int,
                 error: str | None = None) -> Probe:
    if error is not None:
        return Probe(False, error)
    if health_status != 200:
        return Probe(False, f"/health {health_status}")
    try:
        ready = RouterReadiness.model_validate_json(readiness_body or b"")
    except ValidationError:
        return Probe(False, "/readiness is not the PD readiness report")
    want = (prefill, prefill, decode, decode)
    got = (ready.prefill.healthy, ready.prefill.total, ready.decode.healthy, ready.decode.total)
    if got != want:
        return Probe(False, f"router sees prefill {got[0]}/{got[1]}, decode {got[2]}/{got[3]} engines healthy; "
                            f"the topology has {prefill} and {decode}")
    return Probe(True, f"routing to {prefill} prefill and {decode} decode engines")


Target = tuple[str, str]                     # (host, service)


@dataclass
class GateResult:
    ready: bool
    probes: dict[Target, Probe]
    became_ready: dict[Target, float]        # monotonic time each target first turned ready
    abort: str | None = None


async def wait_until_ready(checks: dict[Target, Callable[[], Awaitable[Probe]]], timeout: float,
                           on_change: Callable[[Target, Probe], None],
                           watchdog: Callable[[], str | None] | None = None,
                           interval: float = 0.5, watchdog_every: float = 2.0) -> GateResult:
    """Poll every target until all are ready (each is re-probed until then), the timeout passes, or the
    watchdog (e.g. "a container exited") returns a reason to stop."""
    probes: dict[Target, Probe] = {}
    became: dict[Target, float] = {}
    deadline = time.monotonic() + timeout
    next_watch = time.monotonic()
    while True:
        pending = [t for t in checks if t not in became]
        results = await asyncio.gather(*(checks[t]() for t in pending))
        now = time.monotonic()
        for target, probe in zip(pending, results, strict=True):
            if probes.get(target) != probe:
                probes[target] = probe
                on_change(target, probe)
            if probe.ok:
                became[target] = now
        if len(became) == len(checks):
            return GateResult(True, probes, became)
        if watchdog and now >= next_watch:
            reason = await asyncio.to_thread(watchdog)
            if reason:
                return GateResult(False, probes, became, reason)
            next_watch = now + watchdog_every
        if now >= deadline:
            return GateResult(False, probes, became, f"not ready after {timeout:.0f} s")
        await asyncio.sleep(interval)
