"""apply: change a running deployment to match the topology, printing the change plan first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    AccessOpt,
    FileOpt,
    JsonOpt,
    OutOpt,
    RehearsalOpt,
    TopologyArg,
    _read_plan,
    bundle_dir,
    handles_errors,
    load_plan,
    topology_path,
)

if TYPE_CHECKING:
    from pdcompose.apply.model import ChangePlan


@handles_errors
def apply(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, rehearsal: RehearsalOpt = False,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the change plan and stop")] = False,
          allow_downtime: Annotated[bool, typer.Option(
              "--allow-downtime", help="Carry out a plan that cannot avoid failed requests (it says why)")] = False,
          defer_router: Annotated[bool, typer.Option(
              "--defer-router", help="Every step but the router restart; changed instances wait out of rotation")]
          = False,
          drain_timeout: Annotated[float, typer.Option(
              "--drain-timeout", help="Seconds to wait for an instance's in-flight requests")] = 300.0,
          timeout: Annotated[float | None, typer.Option(
              "--timeout", help="Seconds to wait for a recreated instance's health (default: health.deploy_timeout)")]
          = None, access: AccessOpt = None, as_json: JsonOpt = False) -> None:
    """Change what runs to match the topology, one instance at a time while the router serves: prints the
    change plan (what changes, in what order, what it costs) first; the same topology twice does nothing."""
    from pdcompose.apply.run import ApplyOptions, read_state, without_router
    from pdcompose.apply.run import apply as run_apply
    from pdcompose.cli.deploy_cmds import _print_failure
    from pdcompose.cli.progress import reporter
    from pdcompose.deploy.model import DeployFailed
    from pdcompose.engine.access import Access, mode_of

    plan, _ = load_plan(topology_path(topology, file), rehearsal, quiet=as_json)
    out = bundle_dir(out, plan.rehearsal)
    old_plan = _read_plan(out / "plan.json") if (out / "plan.json").is_file() else None
    ways = Access(mode_of(access or plan.access))
    changes = read_state(plan, old_plan, ways)
    if defer_router:
        changes = without_router(changes)
    if as_json and (dry_run or changes.empty):
        output.print_json({"status": "ok", "fingerprint": plan.fingerprint, **plan_json(changes)})
        return
    if not as_json:
        show(changes)
    if dry_run or changes.empty:
        return
    try:
        with reporter() as progress:
            opts = ApplyOptions(allow_downtime=allow_downtime, defer_router=defer_router,
                                drain_timeout=drain_timeout, timeout=timeout)
            done = run_apply(plan, old_plan, out, changes, opts, progress, Access(ways.mode, progress.step))
    except DeployFailed as exc:
        _print_failure(exc)
        raise
    if as_json:
        output.print_json({"status": "ok", "fingerprint": plan.fingerprint, **plan_json(changes),
                           "seconds": done.seconds, "drained": done.drained})
        return
    output.say(f"applied {len(changes.steps)} change(s) to {plan.cluster} in {sum(done.seconds.values()):.1f} s")


def plan_json(changes: ChangePlan) -> dict[str, Any]:
    return {"changes": [{"step": s.kind, "instance": s.name, "members": [f"{s} on {h}" for h, s in s.members],
                         "what": s.changes, "cost": s.cost} for s in changes.steps],
            "unchanged": changes.unchanged, "downtime": changes.downtime}


def show(changes: ChangePlan) -> None:
    if changes.empty:
        output.say(f"no changes: every container runs its definition ({', '.join(changes.unchanged)})")
        return
    console = output.console()
    sign = {"add": "+", "change": "~", "remove": "-", "restart-router": "~"}
    for i, s in enumerate(changes.steps, 1):
        members = ", ".join(f"{svc} on {h}" for h, svc in s.members)
        console.print(f"{i}. {sign[s.kind]} {s.kind} {s.name} ({output._escape(members)})")
        for line in s.changes:
            console.print(f"     {output._escape(line)}", markup=False)
        console.print(f"     [dim]cost: {output._escape(s.cost)}[/]")
    if changes.unchanged:
        output.note(f"unchanged: {', '.join(changes.unchanged)}")
    for why in changes.downtime:
        output.warn(f"downtime: {why}")
