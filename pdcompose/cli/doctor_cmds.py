"""doctor: is every host ready (the `images` commands are in images_cmds.py)."""

from __future__ import annotations

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    ContextOpt,
    FileOpt,
    JsonOpt,
    RehearsalOpt,
    TimeoutOpt,
    TopologyArg,
    handles_errors,
    plan_and_hosts,
)


@handles_errors
def doctor(topology: TopologyArg = None, file: FileOpt = None, context: ContextOpt = None,
           rehearsal: RehearsalOpt = False, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Check every host through its Docker context: engine, images, address, ports, GPUs, IB, IMEX, gdrcopy, cache."""
    from pdcompose.cli.doctor_views import doctor_json, doctor_table
    from pdcompose.doctor import run_doctor
    from pdcompose.doctor.model import summary

    _, plan, hosts = plan_and_hosts(topology, file, context, rehearsal, as_json)
    results = run_doctor(plan, hosts, timeout)
    counts = summary(results)
    if as_json:
        output.print_json(doctor_json(plan, results, counts))
    else:
        output.print_table(doctor_table(plan, hosts, results))
        verdict = "[bold red]not ready[/]" if counts["fail"] else "[green]ready[/]"
        output.say(f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warnings, "
                   f"{counts['skip']} skipped on {len(hosts)} host(s)")
    if counts["fail"]:
        raise typer.Exit(1)
