"""The other actor on a multi-node group's engines: its group watchdogs (pdcompose/watchdog).

Whatever stops and starts a group's engines from outside (`pdcompose restart`, an `apply` that recreates
the group) holds its watchdogs for the time: they stop before the engines and start after them, so they
begin again as after a deploy (generation 0, "started by deploy"). Left running, a watchdog reads the
outside stop as its group going down and stops the engines again as they form: seen in `make e2e`, where
the master that `pdcompose restart` had just started exited (0), stopped by its own watchdog."""

from __future__ import annotations

from collections.abc import Iterable

from pdcompose.plan.models import Container, Host, Plan

WATCHES = "io.pdcompose.watches"        # a watchdog's label: the instance it watches ("decode-0")


def is_watchdog(c: Container) -> bool:
    return c.role == "watchdog"


def watched_by(plan: Plan, members: Iterable[tuple[Host, Container]]) -> list[tuple[Host, Container]]:
    """The watchdogs of the multi-node instances these containers belong to, in the plan's order."""
    names = {f"{c.role}-{c.instance}" for _, c in members if c.dp and c.dp.nodes > 1}
    return [(h, c) for h, c in plan.containers("watchdog") if c.labels.get(WATCHES) in names]


def by_host(members: Iterable[tuple[Host, Container]]) -> dict[str, tuple[Host, list[str]]]:
    """host name -> (host, its services among members), in the members' order."""
    out: dict[str, tuple[Host, list[str]]] = {}
    for h, c in members:
        out.setdefault(h.name, (h, []))[1].append(c.service)
    return out
