"""Running definitions vs the new plan -> an ordered change plan (pure, like `terraform plan`).

Order, and why:
1. new instances start first (capacity before anything is taken away); vllm-router 0.1.17 cannot add a
   PD worker at run time (`/add_worker` answers 400 in PD mode), so they serve from the router restart;
2. changed prefill instances, then decode instances, one instance (a DP group as a whole) at a time:
   out of the router with `/remove_worker`, drained, recreated, gated on health;
3. removed instances: out of the router, drained, removed;
4. the router last, restarted once with the new list of workers: the only way 0.1.17 takes a removed or
   new PD worker (back) into rotation. While it restarts, clients are refused: that is the downtime.
"""

from __future__ import annotations

from collections.abc import Iterable

from pdcompose.apply.model import ChangePlan, Running, Step, Unit, unit_of
from pdcompose.deploy.watchdogs import WATCHES, is_watchdog
from pdcompose.plan.definition import definition_hash
from pdcompose.plan.flags import canonical
from pdcompose.plan.models import Container, Host, Plan, SecretRef

ROUTER_RESTART = "the router restarts"
ROLE_ORDER = {"prefill": 0, "decode": 1, "monitoring": 2, "router": 3}


def change_plan(plan: Plan, running: list[Running], routed: set[str] | None = None) -> ChangePlan:
    """`routed`: the API servers the router routes to now (None: unknown); one of the plan's that it does
    not (left out by an interrupted apply) makes the router restart."""
    new = _new_units(plan)
    old: dict[Unit, list[Running]] = {}
    for r in running:
        old.setdefault(r.unit, []).append(r)
    adds, changes, removes, unchanged = [], [], [], []
    for unit in sorted(new, key=_order):
        members = new[unit]
        if unit[0] == "router":
            continue
        if unit not in old:
            adds.append(Step("add", unit, _names(members), ["new instance"], _cost_add(members), _urls(members)))
            continue
        lines = _member_changes(members, old[unit])
        if lines:
            changes.append(Step("change", unit, _names(members), lines, _cost_change(unit, members, new),
                                _urls(members)))
        else:
            unchanged.append(_unit_name(unit))
    for unit in sorted(set(old) - set(new), key=_order):
        members_old = sorted(old[unit], key=lambda r: (r.role == "watchdog", r.service))
        engines = sum(r.role != "watchdog" for r in members_old)
        removes.append(Step("remove", unit, [(r.host, r.service) for r in members_old], ["instance removed"],
                            f"{engines} container(s) removed after draining", []))
    steps = [*adds, *changes, *removes]
    out_of_rotation = sorted(set(plan.router.prefill_urls + plan.router.decode_urls) - routed) if routed else []
    router = _router_step(new.get(("router", None), []), old.get(("router", None), []), bool(steps),
                          out_of_rotation)
    if router:
        steps.append(router)
    elif ("router", None) in new:
        unchanged.append("router")
    return ChangePlan(steps, _downtime(steps, new, old), unchanged)


def _new_units(plan: Plan) -> dict[Unit, list[tuple[Host, Container]]]:
    units: dict[Unit, list[tuple[Host, Container]]] = {}
    for h, c in plan.containers():
        units.setdefault(unit_of(c.role, c.instance, c.labels.get(WATCHES)), []).append((h, c))
    return {u: sorted(m, key=lambda hc: (is_watchdog(hc[1]), hc[1].node or 0, hc[1].service))
            for u, m in units.items()}


def _order(unit: Unit) -> tuple[int, int]:
    return ROLE_ORDER.get(unit[0], 9), unit[1] or 0


def _unit_name(unit: Unit) -> str:
    return unit[0] if unit[1] is None else f"{unit[0]}-{unit[1]}"


def _names(members: list[tuple[Host, Container]]) -> list[tuple[str, str]]:
    return [(h.name, c.service) for h, c in members]


def _urls(members: list[tuple[Host, Container]]) -> list[str]:
    return [c.url for _, c in members if c.role in ("prefill", "decode")]


def _member_changes(members: list[tuple[Host, Container]], running: list[Running]) -> list[str]:
    by_service = {r.service: r for r in running}
    lines = []
    for host, c in members:
        r = by_service.get(c.service)
        if r is None:
            lines.append(f"{c.service} on {host.name}: new node")
            continue
        if r.host != host.name:
            lines.append(f"{c.service}: moves from {r.host} to {host.name}")
        if r.status != "running":
            lines.append(f"{c.service} on {host.name}: {r.status}, recreated")
        if r.definition == definition_hash(host, c):
            continue
        what = container_changes(c, r)
        lines += [f"{c.service}: {w}" for w in what]
    gone = sorted({r.service for r in running} - {c.service for _, c in members})
    lines += [f"{s}: node removed" for s in gone]
    return lines


def container_changes(c: Container, r: Running) -> list[str]:
    """What differs between the running container and the plan's, as far as Docker shows it. Values of
    secrets are never shown (nor compared: Docker holds the resolved value, the plan only its name)."""
    out = []
    if r.definition is None:
        out.append("no definition label (deployed by an older pdcompose): recreated once")
    if r.image != c.image:
        out.append(f"image: {r.image} -> {c.image}")
    out += argv_changes(r.command, c.command)
    for key, value in sorted(c.env.items()):
        if isinstance(value, SecretRef):
            continue
        if r.env.get(key) != value:
            out.append(f"env {key}: {_shown(r.env.get(key))} -> {value}")
    if not out:
        out.append("other settings of the service (the files it gets, such as scrape targets; ports, volumes, "
                   "healthcheck, devices or labels)")
    return out


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else value


def argv_changes(old: list[str], new: list[str]) -> list[str]:
    """Flag-level differences: `--max-num-seqs: 8 -> 16`, `+ --enforce-eager`, `- --foo bar`."""
    a, b = _flags(old), _flags(new)
    out = []
    if a.get("") != b.get(""):
        out.append(f"model: {_join(a.get(''))} -> {_join(b.get(''))}")
    for name in sorted((set(a) | set(b)) - {""}):
        if name not in a:
            out.append(f"+ {name} {_join(b[name])}".rstrip())
        elif name not in b:
            out.append(f"- {name} {_join(a[name])}".rstrip())
        elif a[name] != b[name]:
            out.append(f"{name}: {_join(a[name])} -> {_join(b[name])}")
    return out


def _flags(argv: Iterable[str]) -> dict[str, list[str]]:
    """flag -> its values, in order ("" holds the positional tokens before the first flag)."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for token in argv:
        if token.startswith("--"):
            name, joined, value = token.partition("=")
            current = f"--{canonical(name)}"
            out.setdefault(current, [])
            if joined:
                out[current].append(value)
        else:
            out.setdefault(current, []).append(token)
    return out


def _join(values: list[str] | None) -> str:
    return " ".join(values or [])


def _cost_add(members: list[tuple[Host, Container]]) -> str:
    return f"{_engines(members)} container(s) started; serves from the router restart"


def _engines(members: list[tuple[Host, Container]]) -> int:
    """How many of them serve (a group's watchdogs come and go with it, unseen by clients)."""
    return sum(not is_watchdog(c) for _, c in members)


def _cost_change(unit: Unit, members: list[tuple[Host, Container]],
                 new: dict[Unit, list[tuple[Host, Container]]]) -> str:
    if unit[0] == "monitoring":
        return "1 restart; no effect on requests"
    peers = [u for u in new if u[0] == unit[0] and u != unit]
    restarts = f"{_engines(members)} restart(s)"
    if not peers:
        return f"{restarts}; the only {unit[0]} instance: no {unit[0]} while it restarts (downtime)"
    return f"{restarts}; out of rotation until the router restart, {len(peers)} other {unit[0]} instance(s) serve"


def _router_step(new: list[tuple[Host, Container]], old: list[Running], workers_moved: bool,
                 out_of_rotation: list[str]) -> Step | None:
    if not new:
        return None
    host, c = new[0]
    running = old[0] if old else None
    same = running is not None and running.definition == definition_hash(host, c) and running.status == "running"
    if same and not workers_moved and not out_of_rotation:
        return None
    if running is None:
        lines = ["new router"]
    elif not same:
        lines = container_changes(c, running) if running.definition != definition_hash(host, c) else \
            [f"{running.status}, recreated"]
    else:
        lines = []
    if out_of_rotation:
        lines.append(f"re-admits {', '.join(out_of_rotation)}, out of rotation since an earlier apply")
    if workers_moved:
        lines.append("takes the added, changed and recreated API servers into rotation (vllm-router 0.1.17 has "
                     "no working /add_worker in PD mode)")
    return Step("restart-router", ("router", None), [(host.name, c.service)], lines,
                "1 restart; clients are refused until it serves again (downtime)")


def _downtime(steps: list[Step], new: dict[Unit, list[tuple[Host, Container]]],
              old: dict[Unit, list[Running]]) -> list[str]:
    """Why this plan cannot be carried out without clients seeing errors ([] when it can)."""
    out = []
    for s in steps:
        if s.kind == "restart-router":
            out.append(f"{ROUTER_RESTART}: vllm-router 0.1.17 refuses connections while it starts "
                       "(it binds its port only after polling every worker), and cuts the streams it relays")
        elif s.kind == "change" and "downtime" in s.cost:
            out.append(f"{s.name} is the only {s.unit[0]} instance")
    moved = {u[0] for u, members in new.items() if u in old and _releases(members) != _old_releases(old[u])}
    if {"prefill", "decode"} <= moved:
        out.append("the vLLM release changes on prefill and decode: an old prefill must never pair with a new "
                   "decode (NIXL's handshake checks the release), and the router can only switch its whole worker "
                   "list by restarting")
    return out


MOCK_RELEASE = "PDCOMPOSE_MOCK_VLLM_VERSION"     # the release a rehearsal's mock stands for


def _releases(members: list[tuple[Host, Container]]) -> set[tuple[str, str | None]]:
    return {(c.image, str(c.env.get(MOCK_RELEASE)) if MOCK_RELEASE in c.env else None) for _, c in members
            if not is_watchdog(c)}


def _old_releases(members: list[Running]) -> set[tuple[str, str | None]]:
    return {(r.image, r.env.get(MOCK_RELEASE)) for r in members if r.role != "watchdog"}
