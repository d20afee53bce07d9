"""Which hosts a run acts on, and which API servers it can wait for.

`--context NAME` picks the hosts reached through that context (a host's name also works: rehearsal
contexts are named after their host). A partial deploy (the guide's one-node-at-a-time workflow) can
only wait for an instance whose every node is either part of this run or already running; the router
waits for every API server of the topology.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdcompose import suggest
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Container, Host, Plan

Instance = tuple[str, int]


def select_hosts(plan: Plan, names: tuple[str, ...]) -> list[Host]:
    if not names:
        return list(plan.hosts)
    chosen = [h for h in plan.hosts if h.context in names or h.name in names]
    unknown = [n for n in names if not any(n in (h.context, h.name) for h in plan.hosts)]
    if unknown:
        known = ", ".join(f"{h.name} (context {h.context})" for h in plan.hosts)
        hint = suggest.did_you_mean(unknown[0], [n for h in plan.hosts for n in (h.name, h.context)])
        raise PdcomposeError(f"no host uses context {', '.join(map(repr, unknown))}; {hint + ' ' if hint else ''}"
                             f"hosts: {known}")
    return chosen


def instance_of(c: Container) -> Instance | None:
    return (c.role, c.instance) if c.role != "router" and c.instance is not None else None


def relevant_hosts(plan: Plan, hosts: list[Host]) -> list[Host]:
    """The selected hosts plus every host whose containers decide whether this run can finish: the other
    nodes of each instance it touches, and every worker when it starts the router."""
    selected = {h.name for h in hosts}
    workers = plan.workers()
    touched = {instance_of(c) for h, c in workers if h.name in selected}
    names = set(selected) | {h.name for h, c in workers if instance_of(c) in touched}
    if plan.router.host in selected:
        names |= {h.name for h, _ in workers}
    return [h for h in plan.hosts if h.name in names]


@dataclass(frozen=True)
class Scope:
    hosts: list[Host]                      # hosts this run starts containers on
    watch: list[Host]                      # hosts whose containers the gate watches
    gated: list[tuple[Host, Container]]    # API servers to wait for
    router: bool                           # does this run start the router?
    not_gated: list[str]                   # instances started but not waited for, and why


def scope(plan: Plan, hosts: list[Host], running: dict[str, set[str]]) -> Scope:
    """`running` maps host -> services already running before this run (for hosts outside it)."""
    selected = {h.name for h in hosts}
    router = plan.router.host in selected
    workers = plan.workers()
    touched = {instance_of(c) for h, c in workers if h.name in selected}
    if router:
        touched |= {instance_of(c) for _, c in workers}
    gated, not_gated = [], []
    for inst in sorted(i for i in touched if i is not None):
        members = [(h, c) for h, c in workers if instance_of(c) == inst]
        missing = [f"{c.service} on {h.name}" for h, c in members
                   if h.name not in selected and c.service not in running.get(h.name, set())]
        if not missing:
            gated += members
        elif router:
            raise PdcomposeError(f"the router needs every API server healthy first, but {', '.join(missing)} "
                                 "is neither running nor part of this deploy: deploy it too")
        else:
            not_gated.append(f"{inst[0]}-{inst[1]}: also needs {', '.join(missing)}, which this run does not "
                             "start; its health is not awaited")
    watch_names = selected | {h.name for h, _ in gated}
    return Scope(hosts, [h for h in plan.hosts if h.name in watch_names], gated, router, not_gated)
