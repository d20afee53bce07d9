"""`pdcompose status`: one view over all hosts: each container's state, its endpoint's own /health,
and whether the router counts it healthy. Also flags a decode whose NIXL agent is stale, and a
multi-node DP group that is broken (a node down or restarted while the rest runs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import cast

from pydantic import ValidationError

from pdcompose.deploy.containers import ContainerState, states
from pdcompose.engine.access import Access
from pdcompose.engine.fanout import each, parallel, together
from pdcompose.engine.inside import NO_ROUTE, REFUSED, Answer, Request
from pdcompose.errors import PdcomposeError
from pdcompose.ops.recovery import Recovery, summarize
from pdcompose.plan.models import Container, Host, Plan
from pdcompose.wire.router import RouterWorkers, worker_base_url

TIMEOUT = 3.0
STALE_AFTER = timedelta(seconds=60)    # one deploy starts every node within seconds of the others
GROUP_SKEW = timedelta(seconds=30)     # deploy and restart start a group's nodes within seconds


@dataclass(frozen=True)
class Row:
    host: str
    service: str
    role: str
    url: str
    state: ContainerState | None
    state_error: str | None          # the host could not be asked
    endpoint: str                    # "200", "503", "refused", ...
    router_view: str                 # "healthy", "3/4 healthy" (DP engines), "-" (router) or "unknown"
    instance: int | None = None
    node: int | None = None          # 0: the DP master of a multi-node instance
    nodes: int = 1                   # nodes of its instance
    expected: str | None = None      # the definition hash the topology gives it (None: not known)

    @property
    def drift(self) -> bool:
        """It runs another definition than the topology's: `pdcompose apply` would change it."""
        return self.expected is not None and self.state is not None and self.state.definition != self.expected

    @property
    def ok(self) -> bool:
        return (self.state is not None and self.state.status == "running" and self.endpoint == "200"
                and self.router_view in ("healthy", "-"))


@dataclass(frozen=True)
class BrokenGroup:
    """A multi-node DP group that cannot recover by itself: only restarting all its nodes helps."""

    instance: str                    # "decode-0"
    reason: str
    auto: bool = False               # its group watchdogs restart it (recovery: auto)

    @property
    def fix(self) -> str:
        return f"pdcompose restart --instance {self.instance}"

    def message(self) -> str:
        if self.auto:
            return (f"{self.instance} is a broken DP group: {self.reason}; its group watchdogs restart the whole "
                    f"group (recovery: auto); `{self.fix}` does it now")
        return (f"{self.instance} is a broken DP group: {self.reason}; a node cannot rejoin a running group "
                f"alone: run `{self.fix}` (restarts all its nodes, master first)")


@dataclass(frozen=True)
class Status:
    rows: list[Row]
    warnings: list[str]
    groups: list[BrokenGroup] = field(default_factory=list)
    recovery: list[Recovery] = field(default_factory=list)     # what each group's watchdogs say

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and not self.groups and all(r.ok for r in self.recovery)


def collect(plan: Plan, hosts: list[Host], access: Access | None = None,
            expected: dict[str, str] | None = None) -> Status:
    """`expected`: service -> the definition hash the topology gives it (drift is shown against it)."""
    access = access or Access()
    containers = [(h, c) for h in hosts for c in h.containers]
    # Docker on every host, and every endpoint (the router's /workers with them), all at once: status costs
    # the slowest of them.
    calls: list[Callable[[], object]] = [partial(parallel, _states, hosts), partial(_probes, plan, hosts, access)]
    answers = together(calls)
    by_host = cast(dict[str, tuple[dict[str, ContainerState] | None, str | None]], answers[0])
    probed = cast(Probed, answers[1])
    rows = []
    for host, c in containers:
        found, error = by_host[host.name]
        state = found.get(c.service) if found else None
        # The host answered and has no such container: whatever answers at its address is not it.
        endpoint = "-" if found is not None and state is None else probed.endpoints[c.service]
        rows.append(Row(host.name, c.service, c.role, c.url, state, error,
                        endpoint, probed.view.get(c.url, "unknown") if c.role in ("prefill", "decode") else "-",
                        c.instance, c.node, c.dp.nodes if c.dp else 1, (expected or {}).get(c.service)))
    recovery = summarize(plan, probed.watch)
    auto = {r.instance for r in recovery if r.mode == "auto"}
    groups = [BrokenGroup(g.instance, g.reason, g.instance in auto) for g in broken_groups(rows)]
    return Status(rows, stale_nixl(rows) + probed.warnings, groups, recovery)


def _states(host: Host) -> tuple[dict[str, ContainerState] | None, str | None]:
    try:
        return states(host), None
    except PdcomposeError as exc:
        return None, str(exc)


@dataclass
class Probed:
    endpoints: dict[str, str]        # service -> its endpoint's /health ("200", "refused", ...)
    view: dict[str, str]             # API server URL -> the router's view of it
    watch: dict[str, bytes]          # group watchdog service -> its /state
    warnings: list[str] = field(default_factory=list)


def _request(c: Container) -> Request:
    return Request(f"{c.url}{'/state' if c.role == 'watchdog' else c.health_path}", timeout=TIMEOUT)


def _probes(plan: Plan, hosts: list[Host], access: Access) -> Probed:
    """Every endpoint asked from the router's host, in one call with the router's /workers: the view from
    where traffic leaves, and one `docker exec` for the whole cluster instead of one per host (each is an
    SSH channel, a docker CLI and a process in a container). Only the endpoints that do not answer from
    there are asked again from their own hosts, to tell one that is down from one cut off from the router."""
    router_host = plan.host(plan.router.host)
    mine = [c for h in hosts for c in h.containers]
    try:
        answers = access.fetch(router_host, [*map(_request, mine), Request(f"{plan.router.url}/workers",
                                                                            timeout=TIMEOUT)],
                               via=_via(router_host))
    except PdcomposeError:
        return _from_each_host(plan, hosts, router_host, access)
    first = _read(mine, answers[:-1])
    first.view = router_view(answers[-1])
    silent = [h for h in hosts if h is not router_host
              and any(not first.endpoints[c.service].isdigit() for c in h.containers)]
    if not silent:
        return first
    again = _from_each_host(plan, silent, None, access)
    cut = {c.service: h for h in silent for c in h.containers
           if again.endpoints[c.service].isdigit() and not first.endpoints[c.service].isdigit()}
    first.warnings = [f"{s} on {h.name} answers {again.endpoints[s]} on its host but {first.endpoints[s]} from the "
                      f"router's host {router_host.name}: the router cannot reach it (a partition, or a firewall "
                      "between them)" for s, h in cut.items()]
    # Not "200": what the router cannot reach does not serve, whatever it says to its own host.
    first.endpoints |= again.endpoints | {s: f"{again.endpoints[s]} ({first.endpoints[s]} from {router_host.name})"
                                          for s in cut}
    first.watch |= again.watch
    return first


def _read(containers: list[Container], answers: list[Answer]) -> Probed:
    return Probed({c.service: endpoint_text(a) for c, a in zip(containers, answers, strict=False)}, {},
                  {c.service: a.body for c, a in zip(containers, answers, strict=False)
                   if c.role == "watchdog" and a.status == 200})


def _from_each_host(plan: Plan, hosts: list[Host], router_host: Host | None, access: Access) -> Probed:
    """Each host asked for its own endpoints (and the router's host for /workers), all at once."""
    asked = [*hosts, *([router_host] if router_host is not None and router_host not in hosts else [])]

    def one(host: Host) -> Probed:
        mine = [c for c in host.containers if host in hosts]
        requests = list(map(_request, mine))
        if host is router_host:
            requests.append(Request(f"{plan.router.url}/workers", timeout=TIMEOUT))
        try:
            answers = access.fetch(host, requests, via=(mine[0].service if mine else "router"))
        except PdcomposeError:
            answers = [Answer(None, b"", "unreachable")] * len(requests)
        found = _read(mine, answers)
        found.view = router_view(answers[-1]) if host is router_host else {}
        return found

    out = Probed({}, {}, {})
    for found in each(one, asked):
        out.endpoints |= found.endpoints
        out.view |= found.view
        out.watch |= found.watch
    return out


def _via(host: Host) -> str:
    """The router's own container when it runs on that host (it does: the plan puts it there)."""
    services = [c.service for c in host.containers]
    return "router" if "router" in services or not services else services[0]


def endpoint_text(answer: Answer) -> str:
    """"200", "503", "refused" (nothing listens, or no route), "timeout", "unreachable" (neither way worked)."""
    if answer.status is not None:
        return str(answer.status)
    if answer.error in (REFUSED, NO_ROUTE):
        return "refused"
    return "timeout" if (answer.error or "").startswith("no answer") else (answer.error or "unknown")


def router_view(workers: Answer) -> dict[str, str]:
    """API server URL -> what the router's /workers says about it (all of its DP targets)."""
    try:
        parsed = RouterWorkers.model_validate_json(workers.body).workers if workers.status == 200 else []
    except ValidationError:
        return {}
    targets: dict[str, list[bool]] = {}
    for w in parsed:
        targets.setdefault(worker_base_url(w.url), []).append(w.is_healthy)
    return {url: "healthy" if all(ok) else f"{sum(ok)}/{len(ok)} healthy" for url, ok in targets.items()}


def stale_nixl(rows: list[Row]) -> list[str]:
    """A decode keeps the NIXL agent of the prefill it first talked to; after a prefill restarts, the
    decode fails or segfaults until it restarts too (vllm#49238)."""
    running = [(r, r.state.started_at) for r in rows
               if r.state and r.state.status == "running" and r.state.started_at]
    prefills = [(started, r) for r, started in running if r.role == "prefill"]
    if not prefills:
        return []
    last, latest = max(prefills, key=lambda p: p[0])
    stale = [r for r, started in running if r.role == "decode" and started + STALE_AFTER < last]
    if not stale:
        return []
    names = ", ".join(f"{r.service} on {r.host}" for r in stale)
    return [f"{names} started before {latest.service} on {latest.host} last (re)started: their NIXL agent may be "
            "stale; run `pdcompose restart --role decode`"]


def broken_groups(rows: list[Row]) -> list[BrokenGroup]:
    """Multi-node instances whose group is broken, judged from what Docker reports of each node."""
    groups: dict[tuple[str, int], list[Row]] = {}
    for r in rows:
        if r.role != "router" and r.instance is not None and r.nodes > 1:
            groups.setdefault((r.role, r.instance), []).append(r)
    out = []
    for (role, index), members in sorted(groups.items()):
        reason = group_fault(sorted(members, key=lambda r: r.node or 0))
        if reason:
            out.append(BrokenGroup(f"{role}-{index}", reason))
    return out


def group_fault(members: list[Row]) -> str | None:
    """Why this group cannot serve until all of it restarts, or None. Nodes on unreachable hosts are not
    judged; a group with no container at all is not deployed (its rows say "missing"), not broken."""
    known = [r for r in members if r.state_error is None]
    up = [(r, r.state) for r in known if r.state is not None and r.state.status == "running"]
    down = [r for r in known if r.state is None or r.state.status != "running"]
    if down and (up or any(r.state is not None for r in down)):
        running = f"{_names([r for r, _ in up])} {'runs' if len(up) == 1 else 'run'}" if up else "no node runs"
        return f"{', '.join(f'{_name(r)} is {_state_text(r)}' for r in down)} while {running}"
    looped = [f"Docker restarted {_name(r)} alone {s.restarts} time(s)" for r, s in up if s.restarts]
    if looped:
        return ", ".join(looped)
    master = next(((r, s) for r, s in up if r.node == 0), None)
    if master is None or master[1].started_at is None:
        return None
    (m, ms), m_start = master, master[1].started_at
    others = [(r, s, s.started_at) for r, s in up if r is not m and s.started_at is not None]
    before = [r for r, _, start in others if start + GROUP_SKEW < m_start]
    if before and _restarted(ms, unknown=True):
        return (f"its master {_name(m)} restarted at {m_start:%Y-%m-%d %H:%M:%S %Z}, after {_names(before)} started: "
                "their engines lost the group")
    after = [r for r, s, start in others if start > m_start + GROUP_SKEW and _restarted(s, unknown=False)]
    if after:
        return f"{_names(after)} restarted after the group formed around {_name(m)}"
    return None


def _restarted(s: ContainerState, unknown: bool) -> bool:
    """Started well after it was created: a restart, not the start of a (node-by-node) deploy."""
    if s.restarts:
        return True
    if s.created is None or s.started_at is None:
        return unknown
    return s.started_at > s.created + GROUP_SKEW


def _name(r: Row) -> str:
    return f"{r.service} on {r.host}"


def _names(rows: list[Row]) -> str:
    return ", ".join(map(_name, rows))


def _state_text(r: Row) -> str:
    return "missing" if r.state is None else r.state.describe()
