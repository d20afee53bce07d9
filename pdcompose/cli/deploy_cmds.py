"""deploy: render, check the hosts, start them behind the health gate (status, logs, down and restart are in
ops_cmds.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pdcompose.deploy.model import DeployFailed

from pdcompose.cli import output
from pdcompose.cli.common import (
    AccessOpt,
    ContextOpt,
    EngineOpt,
    FileOpt,
    JsonOpt,
    OutOpt,
    RehearsalOpt,
    TopologyArg,
    bundle_dir,
    handles_errors,
    load_plan,
    topology_path,
)


@handles_errors
def deploy(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None,
           context: ContextOpt = None, rehearsal: RehearsalOpt = False,
           timeout: Annotated[float | None, typer.Option(
               "--timeout", help="Seconds to wait for every API server (default: the topology's health.deploy_timeout)")
           ] = None,
           rollback: Annotated[bool, typer.Option(
               "--rollback", help="On failure, remove what this run created")] = False,
           smoke: Annotated[bool, typer.Option(
               "--smoke/--no-smoke", help="Send a one-token request through the router at the end")] = True,
           skip_doctor: Annotated[bool, typer.Option(
               "--skip-doctor",
               help="Skip the image, NIC and free-port checks (reachability is always checked)")] = False,
           allow_download: Annotated[bool, typer.Option("--allow-download", help=(
               "Start vLLM even where the model's revision is not in the host's HF cache: vLLM downloads it "
               "at start (its progress is shown while waiting); otherwise deploy refuses, naming "
               "`models pull`/`push`"))] = False,
           engine: EngineOpt = None, access: AccessOpt = None, as_json: JsonOpt = False) -> None:
    """Render, then start every host in order: vLLM nodes in parallel, health gate, router, smoke test."""
    from pdcompose.cli.progress import reporter
    from pdcompose.deploy.run import DeployFailed, DeployOptions
    from pdcompose.deploy.run import deploy as run_deploy
    from pdcompose.engine.access import mode_of
    from pdcompose.render import render

    plan, _ = load_plan(topology_path(topology, file), rehearsal, quiet=as_json, engine=engine)
    out = bundle_dir(out, plan.rehearsal)
    render(plan, out)
    opts = DeployOptions(contexts=tuple(context or ()), timeout=timeout, rollback=rollback, smoke=smoke,
                         skip_doctor=skip_doctor, access=mode_of(access or plan.access),
                         allow_download=allow_download)
    try:
        with reporter() as progress:
            report = run_deploy(plan, out, opts, progress)
    except DeployFailed as exc:
        _print_failure(exc)
        raise
    if as_json:
        output.print_json({"status": "ok", "fingerprint": plan.fingerprint, "started": report.started,
                           "unchanged": report.unchanged, "timings": report.timings, "smoke": report.smoke,
                           "access": report.access})
        return
    started = sum(len(v) for v in report.started.values())
    unchanged = sum(len(v) for v in report.unchanged.values())
    where = f"router at {plan.router.url}" if plan.router.host in report.hosts else f"{len(report.hosts)} host(s)"
    if plan.entry is not None and plan.router.host in report.hosts:
        where = f"entry at {plan.entry.url}, {where}"
    output.say(f"deployed {plan.cluster} ({where}): {started} container(s) started, {unchanged} unchanged, "
               f"in {report.timings['total']:.1f} s")


def _print_failure(exc: DeployFailed) -> None:
    err = output.console(stderr=True)
    for failure in exc.failures:
        err.print(f"[bold red]failed:[/] {failure.host}/{failure.service}: {output._escape(failure.reason)}")
        if failure.logs:
            err.print(f"[dim]--- last log lines of {failure.service} on {failure.host} ---[/]")
            err.print(output._escape(failure.logs.rstrip()), markup=False)
    if exc.state:
        err.print("state of the hosts now:")
        err.print(output._escape(exc.state))
