"""status, logs, down, restart: act on the last rendered plan (out/plan.json)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    AccessOpt,
    ContextOpt,
    FileOpt,
    JsonOpt,
    OutOpt,
    RehearsalOpt,
    TopologyArg,
    deployed_plan,
    handles_errors,
    load_plan,
    topology_path,
)
from pdcompose.errors import PdcomposeError

if TYPE_CHECKING:
    from pdcompose.ops.status import Row
    from pdcompose.plan.models import Host, Plan

RoleOpt = Annotated[list[str] | None, typer.Option("--role", "-r", help="prefill, decode or router (repeatable)")]
InstanceOpt = Annotated[list[str] | None, typer.Option(
    "--instance", "-i", help="e.g. decode-0: all nodes of that instance, master first (repeatable)")]


@contextlib.contextmanager
def _state_on_failure(hosts: list[Host]) -> Iterator[None]:
    """A command that acted on hosts and then failed says what it left: each host's state, before the error."""
    from pdcompose.deploy.model import DeployFailed
    from pdcompose.errors import DockerOperationError

    try:
        yield
    except (DockerOperationError, DeployFailed) as exc:  # other errors come before anything was acted on
        from pdcompose.cli.deploy_cmds import _print_failure
        from pdcompose.deploy.run import state_summary

        if isinstance(exc, DeployFailed):
            exc.state = exc.state or state_summary(hosts)
            _print_failure(exc)
        else:
            err = output.console(stderr=True)
            err.print("state of the hosts now:")
            err.print(output._escape(state_summary(hosts)))
        raise


def _with_contexts(plan: Plan) -> Plan:
    """The plan, after (re)creating its rehearsal's Docker contexts (a down or a crash may have removed
    them); the commands below reach the hosts through them."""
    from pdcompose.engine.contexts import ensure_rehearsal_contexts

    ensure_rehearsal_contexts(plan)
    return plan


def _hosts(plan: Plan, context: list[str] | None) -> list[Host]:
    from pdcompose.deploy.selection import select_hosts

    return select_hosts(plan, tuple(context or ()))


@handles_errors
def status(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None,
           context: ContextOpt = None, rehearsal: RehearsalOpt = False, access: AccessOpt = None,
           as_json: JsonOpt = False) -> None:
    """Every container's state, its endpoint's /health and the router's view of it (exit 1 if any is not ok)."""
    from pdcompose.cli.views import status_table
    from pdcompose.engine.access import Access, mode_of
    from pdcompose.ops.status import collect

    plan = _with_contexts(deployed_plan(topology_path(topology, file), out, rehearsal))
    ways = Access(mode_of(access or plan.access))
    report = collect(plan, _hosts(plan, context), ways, _expected(topology_path(topology, file), plan))
    if as_json:
        output.print_json({"status": "ok" if report.ok else "degraded", "fingerprint": plan.fingerprint,
                           "access": ways.ways(),
                           "warnings": report.warnings, "containers": [_row_json(r) for r in report.rows],
                           "broken_groups": [{"instance": g.instance, "reason": g.reason, "fix": g.fix}
                                             for g in report.groups],
                           "recovery": [r.as_json() for r in report.recovery]})
    else:
        output.print_table(status_table(plan, report))
        output.note(f"/health asked from the router's host {plan.router.host} (where traffic leaves), and from "
                    "a host itself only where that got no answer")
        _say_ways(ways.ways())
        for group in report.groups:
            output.error_line(group.message())
        for recovery in report.recovery:
            if not recovery.ok:
                output.error_line(recovery.message())
        for warning in report.warnings:
            output.warn(warning)
    if not report.ok:
        raise typer.Exit(1)


def _say_ways(ways: dict[str, str]) -> None:
    """One line per way the hosts were reached (a host whose servers never answered is in neither)."""
    for way, words in (("direct", "reached directly"), ("context", "reached through their Docker contexts")):
        named = sorted(h for h, w in ways.items() if w == way)
        if named:
            output.note(f"{words}: {', '.join(named)}")


def _row_json(r: Row) -> dict[str, Any]:
    state = r.state
    return {"host": r.host, "service": r.service, "role": r.role, "url": r.url,
            "state": state.status if state else ("unreachable" if r.state_error else "missing"),
            "health": state.health if state else None, "restarts": state.restarts if state else None,
            "endpoint": r.endpoint, "router_view": r.router_view, "ok": r.ok, "error": r.state_error,
            "definition": state.definition if state else None, "expected_definition": r.expected, "drift": r.drift}


def _expected(path: Path, deployed: Plan) -> dict[str, str]:
    """service -> the definition hash of the topology as it is now (the deployed bundle's when the topology
    does not load): what `pdcompose apply` would make each container run."""
    from pdcompose.plan.definition import definitions

    plan = _topology_plan(path, deployed) or deployed
    return {s: d for h in plan.hosts for s, d in definitions(h).items()}


def _topology_plan(path: Path, deployed: Plan) -> Plan | None:
    """The topology's plan as it is now (a rehearsal if the deployed one is), or None when it does not load."""
    if not path.is_file():
        return None
    try:
        return load_plan(path, deployed.rehearsal, quiet=True)[0]
    except PdcomposeError:
        return None


def _with_topology_hosts(deployed: Plan, path: Path) -> Plan:
    """The deployed plan, plus the hosts the topology runs something on that it lacks: an `apply` that failed
    after adding an instance leaves it running there (plan.json is rewritten only when an apply completes)."""
    current = _topology_plan(path, deployed)
    if current is None:
        return deployed
    known = {h.name for h in deployed.hosts}
    extra = [h for h in current.hosts if h.name not in known and h.containers]
    if current.cluster != deployed.cluster or not extra:
        return deployed
    return deployed.model_copy(update={"hosts": [*deployed.hosts, *extra]})


@handles_errors
def logs(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None,
         host: Annotated[list[str] | None, typer.Option("--host", "-H", help="Only these hosts (repeatable)")] = None,
         role: RoleOpt = None, follow: Annotated[bool, typer.Option("--follow", "-F", help=(
             "Keep streaming (-F as in tail -F: -f is --file in every pdcompose command, as in "
             "`docker compose -f FILE`)"))] = False,
         tail: Annotated[int, typer.Option("--tail", "-n", help="Lines per container")] = 100,
         since: Annotated[str | None, typer.Option("--since", help="e.g. 10m or a timestamp")] = None,
         rehearsal: RehearsalOpt = False) -> None:
    """Merged logs of every container, each line prefixed with host/container."""
    from pdcompose.ops import logs as ops_logs

    if file is not None and not file.exists():     # `logs -f` typed from Compose habit
        raise PdcomposeError(f"-f {file}: no such topology file (-f is --file here, as in `docker compose -f "
                             "FILE`; to follow the logs, use -F/--follow, as in `tail -F`)")

    plan = _with_contexts(deployed_plan(topology_path(topology, file), out, rehearsal))
    srcs = ops_logs.sources(_hosts(plan, host), list(role or ()))
    width = max((len(s.prefix) for s in srcs), default=0)
    console = output.console()

    def emit(prefix: str, line: str) -> None:
        console.print(f"[cyan]{prefix:<{width}}[/] | {output._escape(line)}")

    if follow:
        stop = threading.Event()
        try:
            ops_logs.follow(srcs, tail, since, emit, stop)
        except KeyboardInterrupt:
            stop.set()
    else:
        for prefix, line in ops_logs.merged(srcs, tail, since):
            emit(prefix, line)


@handles_errors
def down(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None,
         context: ContextOpt = None, rehearsal: RehearsalOpt = False) -> None:
    """Stop the router, then decode, then prefill, and remove every container of the projects."""
    from pdcompose.cli.progress import reporter
    from pdcompose.engine.contexts import remove_rehearsal_contexts
    from pdcompose.ops.down import down as run_down

    path = topology_path(topology, file)
    deployed = deployed_plan(path, out, rehearsal)
    plan = _with_contexts(deployed if context else _with_topology_hosts(deployed, path))
    hosts = _hosts(plan, context)
    with _state_on_failure(hosts), reporter() as progress:
        removed = run_down(hosts, progress)
    if plan.rehearsal and not context:
        remove_rehearsal_contexts(plan)
    output.say(f"removed {plan.cluster} from {len(removed)} host(s)")


@handles_errors
def restart(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None,
            role: RoleOpt = None, instance: InstanceOpt = None, context: ContextOpt = None,
            rehearsal: RehearsalOpt = False,
            timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds to wait for health per role")]
            = None, access: AccessOpt = None) -> None:
    """Restart roles or instances in order (a prefill restart also restarts decode; a node of a multi-node
    instance restarts with its whole group, master first), waiting for health after each role."""
    from pdcompose.cli.progress import reporter
    from pdcompose.engine.access import Access, mode_of
    from pdcompose.ops.restart import restart as run_restart

    plan = _with_contexts(deployed_plan(topology_path(topology, file), out, rehearsal))
    mode = mode_of(access or plan.access)
    with _state_on_failure(plan.hosts), reporter() as progress:
        done = run_restart(plan, _hosts(plan, context), list(role or ()), timeout or plan.health_timeout, progress,
                           list(instance or ()), Access(mode, progress.step))
    output.say(f"restarted {', '.join(done)} of {plan.cluster}")
