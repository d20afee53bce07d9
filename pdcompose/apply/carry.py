"""Carrying a change plan out while the router serves: one instance (a DP group as a whole) at a time.

A changed or removed instance: out of the router (`/remove_worker`), drained (its engines' metrics),
then recreated from the new bundle (or removed) and gated on health. A new instance: started and gated.
The router last: restarted from the new bundle, which is what takes new and recreated API servers into
rotation in vllm-router 0.1.17. If a new definition does not come up, that instance goes back to its old
definition (the previous bundle), the steps after it are not taken, and the error carries its log tail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from python_on_whales import DockerException

from pdcompose.apply.drain import remove_from_router, wait_drained
from pdcompose.apply.model import ChangePlan, Step
from pdcompose.deploy.gate import gate_containers, gate_router, gate_workers
from pdcompose.deploy.model import DeployFailed
from pdcompose.deploy.watchdogs import by_host, is_watchdog
from pdcompose.engine.access import Access
from pdcompose.engine.clients import deploy_client, project_client
from pdcompose.engine.errors import wrapped
from pdcompose.plan.models import Host, Plan
from pdcompose.progress import Reporter

SERVING = ("prefill", "decode")        # the roles behind the router


@dataclass(frozen=True)
class Bundles:
    new: Path                       # the new plan's rendered bundle
    old: Path | None                # what runs now, as rendered then (None: unknown, no rollback)
    old_plan: Plan | None


@dataclass
class Carried:
    seconds: dict[str, float] = field(default_factory=dict)   # step name -> seconds it took
    drained: dict[str, float] = field(default_factory=dict)   # step name -> seconds its drain took


class RolledBack(DeployFailed):
    """A new definition did not come up; its instance runs its old one again."""


def carry(plan: Plan, changes: ChangePlan, bundles: Bundles, access: Access, report: Reporter,
          drain_timeout: float, timeout: float, readmit: bool = False) -> Carried:
    """`readmit`: downtime is allowed, so a rolled-back instance is put back in rotation at once (a router
    restart from the old bundle) instead of waiting for the next apply's."""
    done = Carried()
    for step in changes.steps:
        t0 = time.monotonic()
        report.step(f"{step.kind} {step.name}: {step.cost}")
        try:
            _one(plan, step, bundles, access, report, drain_timeout, timeout, done)
        except RolledBack:
            if readmit and bundles.old is not None and bundles.old_plan is not None:
                report.step(f"{step.name}: restarting the router so that it serves again (--allow-downtime)")
                _restart_router(bundles.old_plan, bundles.old, timeout, report, access)
            raise
        done.seconds[step.name] = time.monotonic() - t0
        report.step(f"{step.name}: done in {done.seconds[step.name]:.1f} s")
    return done


def _one(plan: Plan, step: Step, bundles: Bundles, access: Access, report: Reporter, drain_timeout: float,
         timeout: float, done: Carried) -> None:
    if step.kind == "add":
        _up(plan, step, bundles.new)
        _gate(plan, step, timeout, report, access)
    elif step.kind == "change":
        if _serves(bundles.old_plan or plan, step):
            done.drained[step.name] = _out_of_router(plan, bundles.old_plan, step, access, drain_timeout)
        _recreate(plan, step, bundles, timeout, report, access)
    elif step.kind == "remove":
        assert bundles.old_plan is not None, "a removal comes from the old plan"
        if _serves(bundles.old_plan, step):
            done.drained[step.name] = _out_of_router(bundles.old_plan, bundles.old_plan, step, access,
                                                     drain_timeout)
        _remove(bundles.old_plan, step)
    else:
        _restart_router(plan, bundles.new, timeout, report, access)


def _out_of_router(plan: Plan, old_plan: Plan | None, step: Step, access: Access, drain_timeout: float) -> float:
    """Remove the instance's API servers from the router that runs now, then wait until they are idle."""
    router_plan = old_plan or plan
    router_host = router_plan.host(router_plan.router.host)
    members = _engines(old_plan or plan, step) or _engines(plan, step)
    for _, c in members:
        remove_from_router(access, router_host, router_plan.router.url, c.url)
    return wait_drained(access, [(h, c.service, c.url) for h, c in members], drain_timeout)


def _serves(plan: Plan, step: Step) -> bool:
    """An instance of API servers the router routes to (not Prometheus or the entry: nothing to drain)."""
    return any(c.role in SERVING for _, c in _members(plan, step))


def _members(plan: Plan, step: Step) -> list:
    names = set(step.members)
    return [(h, c) for h, c in plan.containers() if (h.name, c.service) in names]


def _engines(plan: Plan, step: Step) -> list:
    return [(h, c) for h, c in _members(plan, step) if not is_watchdog(c)]


def _watchdogs(plan: Plan, step: Step) -> list:
    return [(h, c) for h, c in _members(plan, step) if is_watchdog(c)]


def _recreate(plan: Plan, step: Step, bundles: Bundles, timeout: float, report: Reporter, access: Access) -> None:
    """The whole group stopped, then master first; if the new definition does not come up: roll back."""
    try:
        _stop(plan, bundles.old_plan, step)
        _up(plan, step, bundles.new)
        _gate(plan, step, timeout, report, access)
    except DeployFailed as exc:
        if bundles.old is None or bundles.old_plan is None:
            exc.args = (f"{step.name}: {exc}; no previous bundle to roll back to: it stays out of the router",)
            raise
        report.step(f"{step.name}: the new definition did not come up; rolling it back to the old one")
        _stop(plan, bundles.old_plan, step)
        _up(bundles.old_plan, step, bundles.old)
        _gate(bundles.old_plan, step, timeout, report, access)
        raise RolledBack(f"{step.name}: the new definition failed ({exc}); rolled back to the old definition, "
                         "which serves again after a router restart (`pdcompose apply --allow-downtime` does it, "
                         "with a fixed topology)", exc.failures, exc.state) from None


def _stop(plan: Plan, old_plan: Plan | None, step: Step) -> None:
    """The group's watchdogs first (deploy/watchdogs: they would read this stop as a crash), then its engines."""
    for members in (_watchdogs, _engines):
        for host, services in by_host(members(old_plan or plan, step)).values():
            _compose(host, lambda h, s=services: project_client(h).compose.stop(services=s))


def _up(plan: Plan, step: Step, bundle: Path) -> None:
    """Masters, then the other nodes, then the group's watchdogs (also when a start failed: a group is never
    left without them)."""
    engines = _engines(plan, step)
    try:
        for group in ([m for m in engines if not m[1].node], [m for m in engines if m[1].node]):
            _up_services(group, bundle)
    finally:
        _up_services(_watchdogs(plan, step), bundle)


def _up_services(members: list, bundle: Path) -> None:
    for host, services in by_host(members).values():
        _compose(host, lambda h, s=services: deploy_client(h, bundle).compose.up(
            services=s, detach=True, quiet=True, dependencies=False))


def _remove(plan: Plan, step: Step) -> None:
    for host, services in by_host(_members(plan, step)).values():
        _compose(host, lambda h, s=services: project_client(h).compose.rm(services=s, stop=True))


def _gate(plan: Plan, step: Step, timeout: float, report: Reporter, access: Access) -> None:
    """API servers on their /health and model list; anything else (Prometheus, the entry) on Docker's own health
    check: an API server's gate would wait forever for a /health that Prometheus does not have."""
    members = _engines(plan, step)
    servers = [(h, c) for h, c in members if c.role in SERVING]
    if servers:
        gate_workers(plan, servers, list({h.name: h for h, _ in servers}.values()), {}, timeout, report, access)
    others = [(h, c) for h, c in members if c.role not in SERVING]
    if others:
        gate_containers(others, timeout, report)


def _restart_router(plan: Plan, bundle: Path, timeout: float, report: Reporter, access: Access) -> None:
    host = plan.host(plan.router.host)
    _compose(host, lambda h: deploy_client(h, bundle).compose.up(services=["router"], detach=True, quiet=True,
                                                                 dependencies=False, force_recreate=True))
    gate_router(plan, host, {}, min(timeout, 600.0), report, access)


def _compose(host: Host, action) -> None:
    try:
        action(host)
    except DockerException as exc:
        raise wrapped(host.name, exc) from None
