"""`pdcompose restart`: restart roles or instances in order and wait for health after each role.

Restarting any prefill also restarts the decode instances: a decode keeps the NIXL agent of the
prefill it first talked to and fails for up to an hour against a restarted one (llm-d operations
doc, vllm#49238).

A multi-node instance restarts as one group, whichever of its nodes was asked for (`--instance`,
`--role` or `--context`): a node cannot rejoin a running DP group alone, and a restarted master
leaves the other nodes' engines without a group. Every node of the group is stopped, then the
master (node 0) is started, then the other nodes, and the health gate waits for all of them. The group's
watchdogs are held meanwhile (deploy/watchdogs): stopped first, started again once the engines are."""

from __future__ import annotations

import functools
from collections.abc import Callable

from python_on_whales import DockerException

from pdcompose import suggest
from pdcompose.deploy.containers import states
from pdcompose.deploy.gate import gate_router, gate_workers
from pdcompose.deploy.selection import Instance, instance_of
from pdcompose.deploy.watchdogs import by_host, watched_by
from pdcompose.engine.access import Access
from pdcompose.engine.clients import project_client
from pdcompose.engine.errors import wrapped
from pdcompose.engine.fanout import parallel
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Container, Host, Plan
from pdcompose.progress import Reporter

ORDER = ("prefill", "decode", "router")


def roles_to_restart(requested: list[str]) -> list[str]:
    roles = set(requested) or set(ORDER)
    if "prefill" in roles:
        roles.add("decode")
    return [r for r in ORDER if r in roles]


def parse_instances(plan: Plan, names: list[str]) -> set[Instance]:
    """"decode-0" -> ("decode", 0); an unknown name is an error that lists the instances."""
    known = sorted({i for _, c in plan.workers() if (i := instance_of(c))})
    out = set()
    for name in names:
        role, _, index = name.strip().rpartition("-")
        inst = (role, int(index)) if index.isdigit() else None
        if inst not in known:
            names_known = [f"{r}-{i}" for r, i in known]
            hint = suggest.did_you_mean(name.strip(), names_known)
            raise PdcomposeError(f"no instance {name!r} in {plan.cluster}; {hint + ' ' if hint else ''}instances: "
                                 f"{', '.join(names_known)}")
        out.add(inst)
    return out


def targets(plan: Plan, hosts: list[Host], requested: list[str],
            instances: set[Instance]) -> tuple[list[str], list[tuple[Host, Container]]]:
    """The roles to restart in order, and their containers: those on the selected hosts (only the named
    instances of a role asked for by instance alone), widened to every node of a multi-node group."""
    named = {role for role, _ in instances}
    roles = roles_to_restart([*requested, *sorted(named)])
    selected = {h.name for h in hosts}

    def wanted(h: Host, c: Container) -> bool:
        implied = c.role == "decode" and "prefill" in roles   # every decode follows a prefill restart
        if c.role in named and c.role not in requested and not implied:
            return instance_of(c) in instances
        return h.name in selected

    chosen = [(h, c) for h, c in plan.containers() if c.role in roles and wanted(h, c)]
    groups = {instance_of(c) for _, c in chosen if c.dp and c.dp.nodes > 1}
    services = {c.service for _, c in chosen}
    return roles, [(h, c) for h, c in plan.containers() if c.service in services or instance_of(c) in groups]


def restart(plan: Plan, hosts: list[Host], requested: list[str], timeout: float, report: Reporter,
            instance_names: list[str] | None = None, access: Access | None = None) -> list[str]:
    access = access or Access("auto", report.step)
    instances = parse_instances(plan, instance_names or [])
    roles, chosen = targets(plan, hosts, requested, instances)
    asked = set(requested) | {role for role, _ in instances}
    if "prefill" in roles and "prefill" in asked and "decode" not in requested:
        report.step("decode instances restart too: their NIXL agents would be stale after a prefill restart")
    done = []
    for role in roles:
        members = [(h, c) for h, c in chosen if c.role == role]
        if not members:
            continue
        done.append(role)
        on = sorted({h.name for h, _ in members})
        role_hosts = [h for h in plan.hosts if h.name in on]
        report.step(f"restarting {role} on {', '.join(on)}")
        if role == "router":
            before = parallel(states, role_hosts)
            parallel(lambda h: _restart(h, [c.service for c in h.containers if c.role == "router"]), role_hosts)
            gate_router(plan, plan.host(plan.router.host), before, min(timeout, 600.0), report, access)
            continue
        for inst in sorted({i for _, c in members if c.dp and c.dp.nodes > 1 and (i := instance_of(c))}):
            nodes = [f"{c.service} on {h.name}" for h, c in members if instance_of(c) == inst]
            report.step(f"{inst[0]}-{inst[1]} is one multi-node DP group: restarting all {len(nodes)} of its nodes "
                        f"({', '.join(nodes)}), master first")
        _restart_workers(plan, members, role_hosts)
        gate_workers(plan, members, role_hosts, {}, timeout, report, access)
    return done


def _restart_workers(plan: Plan, members: list[tuple[Host, Container]], hosts: list[Host]) -> None:
    """Stop the groups' watchdogs and every member, start the masters (and single-node instances), then the
    other nodes, then the watchdogs again."""
    found = parallel(states, hosts)
    missing = [f"{c.service} on {h.name}" for h, c in members if c.service not in found[h.name]]
    if missing:
        raise PdcomposeError(f"{', '.join(missing)} has no container: `pdcompose deploy` creates it; "
                             "then restart its instance")
    # A watchdog deployed by an older pdcompose (or removed by hand) has no container to hold.
    held = by_host((h, c) for h, c in watched_by(plan, members) if c.service in found.get(h.name, {}))

    def on(h: Host, master: bool | None = None) -> list[str]:
        return [c.service for m, c in members
                if m.name == h.name and (master is None or (not c.node) == master)]

    holding = [h for h in hosts if h.name in held]
    parallel(lambda h: _compose(h, "stop", held[h.name][1]), holding)
    try:
        parallel(lambda h: _compose(h, "stop", on(h)), hosts)
        for master in (True, False):
            starting = [h for h in hosts if on(h, master)]
            parallel(functools.partial(_start, on=on, master=master), starting)
    finally:                                # a failed restart is left to them, never without them
        parallel(lambda h: _compose(h, "start", held[h.name][1]), holding)


def _start(host: Host, on: Callable[[Host, bool], list[str]], master: bool) -> None:
    _compose(host, "start", on(host, master))


def _compose(host: Host, action: str, services: list[str]) -> None:
    try:
        getattr(project_client(host).compose, action)(services=services)
    except DockerException as exc:
        raise wrapped(host.name, exc) from None


def _restart(host: Host, services: list[str]) -> None:
    try:
        project_client(host).compose.restart(services=services)
    except DockerException as exc:
        raise wrapped(host.name, exc) from None
