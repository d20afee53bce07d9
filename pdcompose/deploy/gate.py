"""The health gates: wait until API servers (or the router) are ready, watching their containers so
one that exits, restart-loops or turns unhealthy stops the wait at once with its log tail."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from pdcompose.deploy import containers, health
from pdcompose.deploy.model import DeployFailed, Failure, Reporter
from pdcompose.engine.fanout import parallel
from pdcompose.plan.models import Container, Host, Plan, Role

R = TypeVar("R")


def gate_workers(plan: Plan, gated: list[tuple[Host, Container]], watch: list[Host], before: dict,
                 timeout: float, report: Reporter) -> health.GateResult:
    """Wait until every given API server is ready; raise DeployFailed (with log tails) otherwise."""
    model = plan.served_model_name
    services = {(h.name, c.service) for h, c in gated}
    failures: list[Failure] = []

    async def run() -> health.GateResult:
        async with httpx.AsyncClient() as client:
            checks: dict[health.Target, Callable[[], Awaitable[health.Probe]]] = {
                (h.name, c.service): _bind(health.probe_api, client, c.url, model) for h, c in gated}
            return await health.wait_until_ready(checks, timeout, report.target,
                                                 _watchdog(watch, services, before, failures))

    return _conclude(asyncio.run(run()), failures, "API servers", watch)


def gate_router(plan: Plan, host: Host, before: dict, timeout: float, report: Reporter) -> None:
    failures: list[Failure] = []
    url = plan.router.url
    counts = (_engines(plan, "prefill"), _engines(plan, "decode"))

    async def run() -> health.GateResult:
        async with httpx.AsyncClient() as client:
            checks: dict[health.Target, Callable[[], Awaitable[health.Probe]]] = {
                (host.name, "router"): _bind(health.probe_router, client, url, *counts)}
            return await health.wait_until_ready(checks, timeout, report.target,
                                                 _watchdog([host], {(host.name, "router")}, before, failures,
                                                           lagging_health=True))

    _conclude(asyncio.run(run()), failures, "the router", [host])


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
