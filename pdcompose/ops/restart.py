"""`pdcompose restart --role R`: restart in order and wait for health after each role.

Restarting any prefill also restarts the decode instances: a decode keeps the NIXL agent of the
prefill it first talked to and fails for up to an hour against a restarted one (llm-d operations
doc, vllm#49238)."""

from __future__ import annotations

from python_on_whales import DockerException

from pdcompose.deploy.containers import states
from pdcompose.deploy.gate import gate_router, gate_workers
from pdcompose.deploy.model import Reporter
from pdcompose.engine.clients import project_client
from pdcompose.engine.errors import wrapped
from pdcompose.engine.fanout import parallel
from pdcompose.plan.models import Host, Plan

ORDER = ("prefill", "decode", "router")


def roles_to_restart(requested: list[str]) -> list[str]:
    roles = set(requested) or set(ORDER)
    if "prefill" in roles:
        roles.add("decode")
    return [r for r in ORDER if r in roles]


def restart(plan: Plan, hosts: list[Host], requested: list[str], timeout: float, report: Reporter) -> list[str]:
    roles = roles_to_restart(requested)
    if "prefill" in roles and "prefill" in requested and "decode" not in requested:
        report.step("decode instances restart too: their NIXL agents would be stale after a prefill restart")
    for role in roles:
        members = [(h, c) for h in hosts for c in h.containers if c.role == role]
        if not members:
            continue
        on = sorted({h.name for h, _ in members})
        report.step(f"restarting {role} on {', '.join(on)}")
        before = parallel(states, [h for h in hosts if h.name in on])
        parallel(lambda h, r=role: _restart(h, r), [h for h in hosts if h.name in on])
        if role == "router":
            gate_router(plan, plan.host(plan.router.host), before, min(timeout, 600.0), report)
        else:
            gate_workers(plan, members, [h for h in hosts if h.name in on], {}, timeout, report)
    return roles


def _restart(host: Host, role: str) -> None:
    services = [c.service for c in host.containers if c.role == role]
    try:
        project_client(host).compose.restart(services=services)
    except DockerException as exc:
        raise wrapped(host.name, exc) from None
