"""The health gates: wait until API servers (or the router) are ready, watching their containers so
one that exits, restart-loops or turns unhealthy stops the wait at once with its log tail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pdcompose.deploy import containers, health
from pdcompose.deploy.model import DeployFailed, Failure
from pdcompose.engine.access import Access
from pdcompose.engine.fanout import parallel, size_asyncio_threads
from pdcompose.engine.inside import Answer, Request
from pdcompose.errors import PdcomposeError
from pdcompose.plan.auth import key_variable
from pdcompose.plan.models import Container, Host, Plan, Role
from pdcompose.progress import Reporter

R = TypeVar("R")


def gate_workers(plan: Plan, gated: list[tuple[Host, Container]], watch: list[Host], before: dict,
                 timeout: float, report: Reporter, access: Access) -> health.GateResult:
    """Wait until every given API server is ready; raise DeployFailed (with log tails) otherwise."""
    model = plan.served_model_name
    services = {(h.name, c.service) for h, c in gated}
    failures: list[Failure] = []
    key = key_variable(plan)      # /v1/models needs the cluster's API key; /health is open (plan/auth.py)
    asks = {(h.name, c.service): [Request(f"{c.url}/health", timeout=health.PROBE_TIMEOUT),
                                  Request(f"{c.url}/v1/models", timeout=health.PROBE_TIMEOUT, auth=key)]
            for h, c in gated}
    rounds = _Rounds(access, {h.name: h for h, _ in gated}, asks)

    async def check(target: health.Target) -> health.Probe:
        up, models = await rounds.answers(target)
        return health.judge_api(up.status, models.body if up.status == 200 else None, model, up.error)

    async def run() -> health.GateResult:
        size_asyncio_threads()
        checks: dict[health.Target, Callable[[], Awaitable[health.Probe]]] = {t: _bind(check, t) for t in asks}
        return await health.wait_until_ready(checks, timeout, report.target,
                                             _watchdog(watch, services, before, failures))

    return _conclude(asyncio.run(run()), failures, "API servers", watch)


def gate_router(plan: Plan, host: Host, before: dict, timeout: float, report: Reporter, access: Access) -> None:
    failures: list[Failure] = []
    url = plan.router.url
    counts = (_engines(plan, "prefill"), _engines(plan, "decode"))
    target = (host.name, "router")
    rounds = _Rounds(access, {host.name: host}, {target: [Request(f"{url}/health", timeout=health.PROBE_TIMEOUT),
                                                          Request(f"{url}/readiness", timeout=health.PROBE_TIMEOUT)]})

    async def check() -> health.Probe:
        up, ready = await rounds.answers(target)
        return health.judge_router(up.status, ready.body if up.status == 200 else None, *counts, error=up.error)

    async def run() -> health.GateResult:
        size_asyncio_threads()
        return await health.wait_until_ready({target: check}, timeout, report.target,
                                             _watchdog([host], {target}, before, failures, lagging_health=True))

    _conclude(asyncio.run(run()), failures, "the router", [host])


def gate_containers(gated: list[tuple[Host, Container]], timeout: float, report: Reporter,
                    poll: float = 1.0) -> None:
    """Wait until containers that are no API server (Prometheus, the entry and its exporter) run and pass their
    own Docker health check (every planned container has one); raise DeployFailed with the log tail of one
    that exits, restart-loops or turns unhealthy, or of those still not healthy after `timeout`."""
    hosts = list({h.name: h for h, _ in gated}.values())
    t0 = time.monotonic()
    while True:
        states = parallel(containers.states, hosts)
        pending = []
        for h, c in gated:
            state = states.get(h.name, {}).get(c.service)
            if state is None or state.failed:
                reason = "no container" if state is None else state.describe()
                logs = containers.log_tail(h, state.name) if state else ""
                raise DeployFailed(f"{c.service} on {h.name}: {reason}", [Failure(h.name, c.service, reason, logs)], "")
            if state.status != "running" or state.health not in (None, "healthy"):
                pending.append((h, c, state))
        if not pending:
            report.step(f"{', '.join(c.service for _, c in gated)} healthy ({time.monotonic() - t0:.1f} s)")
            return
        if time.monotonic() - t0 > timeout:
            failures = [Failure(h.name, c.service, s.describe(), containers.log_tail(h, s.name)) for h, c, s in pending]
            raise DeployFailed(f"not healthy within {timeout:.0f} s: {', '.join(f.service for f in failures)}",
                               failures, "")
        time.sleep(poll)


class _Rounds:
    """One fetch per host per poll, whichever way the host is reached (through its context that is one
    `docker exec`, so the gate's latency stays one round trip): the first target of a host to ask in a poll
    starts the host's fetch of every target's requests, the host's other targets share its answers."""

    def __init__(self, access: Access, hosts: dict[str, Host], asks: dict[health.Target, list[Request]]):
        self.access, self.hosts, self.asks = access, hosts, asks
        self._fetch: dict[str, asyncio.Future[dict[health.Target, list[Answer]]]] = {}
        self._asked: dict[str, set[health.Target]] = {}

    async def answers(self, target: health.Target) -> list[Answer]:
        host = target[0]
        asked = self._asked.setdefault(host, set())
        if host not in self._fetch or target in asked:          # a new poll
            asked.clear()
            self._fetch[host] = asyncio.ensure_future(asyncio.to_thread(self._host, host))
        asked.add(target)
        try:
            return (await asyncio.shield(self._fetch[host]))[target]
        except PdcomposeError as exc:       # the context could not run the requests: this poll's verdict
            return [Answer(None, b"", str(exc))] * len(self.asks[target])

    def _host(self, host: str) -> dict[health.Target, list[Answer]]:
        targets = [t for t in self.asks if t[0] == host]
        flat = [r for t in targets for r in self.asks[t]]
        answers = self.access.fetch(self.hosts[host], flat, via=targets[0][1])
        out, i = {}, 0
        for t in targets:
            out[t] = answers[i:i + len(self.asks[t])]
            i += len(self.asks[t])
        return out


def _engines(plan: Plan, role: Role) -> int:
    return sum(c.dp.local if c.dp else 1 for _, c in plan.containers(role))


def _conclude(gate: health.GateResult, failures: list[Failure], what: str, hosts: list[Host]) -> health.GateResult:
    if gate.ready:
        return gate
    if not failures:  # timed out: the containers run but never turned ready; their logs say why
        failures = [Failure(h, s, p.detail, _logs_of(hosts, h, s)) for (h, s), p in gate.probes.items() if not p.ok]
    raise DeployFailed(f"{what} did not become ready: {gate.abort}", failures, "")


def _logs_of(hosts: list[Host], host: str, service: str) -> str:
    state = containers.states(plan_host(hosts, host)).get(service)
    return containers.log_tail(plan_host(hosts, host), state.name) if state else ""


def _watchdog(hosts: list[Host], services: set[tuple[str, str]], before: dict,
              failures: list[Failure], lagging_health: bool = False) -> Callable[[], str | None]:
    """Stop waiting as soon as a gated container exits, restart-loops, turns unhealthy or is missing."""
    def check() -> str | None:
        for host, states in parallel(containers.states, hosts).items():
            for (h, service) in sorted(services):
                if h != host:
                    continue
                state = states.get(service)
                old = before.get(host, {}).get(service)
                restarted = state and old and old.id == state.id and state.restarts > old.restarts
                stale = lagging_health and _stale_unhealthy(state, old)
                if state is None or (state.failed and not stale) or restarted:
                    reason = "no container" if state is None else state.describe()
                    logs = containers.log_tail(plan_host(hosts, host), state.name) if state else ""
                    failures.append(Failure(host, service, reason, logs))
        return f"{failures[0].service} on {failures[0].host}: {failures[0].reason}" if failures else None

    return check


def _stale_unhealthy(state: containers.ContainerState | None, old: containers.ContainerState | None) -> bool:
    """The router this deploy left running while it healed workers: its Docker health check saw their
    outage (the router's /health is 503 while a worker is down) and lags its recovery by up to three
    intervals, so its own /readiness and the gate's timeout decide, not that stale verdict."""
    return (state is not None and old is not None and state.status == "running" and state.health == "unhealthy"
            and old.id == state.id)


def plan_host(hosts: list[Host], name: str) -> Host:
    return next(h for h in hosts if h.name == name)


def _bind(fn: Callable[..., R], *args: object) -> Callable[[], R]:
    return lambda: fn(*args)
