"""init, validate, plan, render, schema: the commands that need no Docker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    EngineOpt,
    FileOpt,
    ForceOpt,
    JsonOpt,
    OutOpt,
    RehearsalOpt,
    StrictOpt,
    TopologyArg,
    bundle_dir,
    handles_errors,
    load_plan,
    topology_path,
)
from pdcompose.errors import PdcomposeError


@handles_errors
def validate(topology: TopologyArg = None, file: FileOpt = None, rehearsal: RehearsalOpt = False,
             strict: StrictOpt = False, engine: EngineOpt = None, as_json: JsonOpt = False) -> None:
    """Check the topology file: syntax, keys, types, hosts, presets, GPUs, ports, flags."""
    path = topology_path(topology, file)
    plan, warnings = load_plan(path, rehearsal, strict, quiet=as_json, engine=engine)
    workers = plan.workers()
    if as_json:
        output.print_json({"status": "ok", "fingerprint": plan.fingerprint, "hosts": len(plan.hosts),
                           "containers": len(workers) + 1, "warnings": [w.as_dict() for w in warnings]})
        return
    roles = {r: sum(c.role == r for _, c in workers) for r in ("prefill", "decode")}
    entry = f" behind the entry {plan.entry.url}" if plan.entry else ""
    output.say(f"{path}: ok: {len(plan.hosts)} hosts, {roles['prefill']} prefill and {roles['decode']} decode "
               f"nodes, router at {plan.router.url}{entry} (fingerprint {plan.fingerprint})")


@handles_errors
def plan(topology: TopologyArg = None, file: FileOpt = None, rehearsal: RehearsalOpt = False,
         commands: Annotated[bool, typer.Option("--commands", help=(
             "Print each node's exact vllm serve / vllm-router command line, one flag per line"))] = False,
         env: Annotated[bool, typer.Option("--env", help="With --commands: also the environment")] = False,
         ports: Annotated[bool, typer.Option("--ports", help=(
             "List every port each host opens, the address it is bound on, and who needs to reach it"))] = False,
         engine: EngineOpt = None, as_json: JsonOpt = False) -> None:
    """Show where everything runs: hosts, containers, GPUs, data-parallel ranks and ports."""
    from pdcompose.cli import views

    the_plan, _ = load_plan(topology_path(topology, file), rehearsal, quiet=as_json, engine=engine)
    if as_json:
        output.print_json(the_plan.model_dump(mode="json"))
        return
    elif commands:
        output.console().print(views.command_listing(the_plan, env), markup=False, end="")
    elif ports:
        output.print_table(views.ports_table(the_plan))
    else:
        output.print_table(views.placement_table(the_plan))
    if the_plan.substitutions:   # a real-engine rehearsal: what differs from the plan it rehearses
        output.say("real-engine rehearsal substitutions:")
        for line in the_plan.substitutions:
            output.say(f"  - {line}")


@handles_errors
def render(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None,
           templates: Annotated[Path | None, typer.Option(
               "--templates", help=(
                   "Folder with your copy of the Compose templates (start from pdcompose/compose_templates in "
                   "the installed package)"))] = None,
           rehearsal: RehearsalOpt = False, strict: StrictOpt = False,
           check: Annotated[bool, typer.Option("--check", help=(
               "Also run `docker compose config` on every file before writing"))] = False,
           engine: EngineOpt = None, force: ForceOpt = False, as_json: JsonOpt = False) -> None:
    """Write OUT/<host>/compose.yaml for every host and OUT/plan.json (atomically)."""
    from pdcompose.render import render as write

    the_plan, _ = load_plan(topology_path(topology, file), rehearsal, strict, quiet=as_json, engine=engine)
    verify: Callable[[Path], None] | None = None
    if check:
        from pdcompose.engine.compose_check import check_bundle as verify
    out = bundle_dir(out, the_plan.rehearsal)
    written = write(the_plan, out, templates, verify=verify, force=force)
    if as_json:
        output.print_json({"status": "ok", "output": str(out), "files": written,
                           "fingerprint": the_plan.fingerprint})
        return
    hosts = [f for f in written if f.endswith("compose.yaml")]
    output.say(f"wrote {out}/: {len(hosts)} Compose files and plan.json (fingerprint {the_plan.fingerprint})")
    for name in hosts if len(hosts) <= 16 else []:  # a 1,000-host bundle is not listed file by file
        output.say(f"  {out / name}")


@handles_errors
def schema(out: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file")] = None) -> None:
    """Print the JSON Schema of the topology file (for editor completion)."""
    from pdcompose.topology.jsonschema import topology_schema

    text = json.dumps(topology_schema(), indent=2) + "\n"
    if out:
        from pdcompose.files import write_file

        write_file(out, text)
        output.note(f"wrote {out}")
    else:
        output.console().print(text, markup=False, end="")


@handles_errors
def init(file: FileOpt = None,
         preset: Annotated[str, typer.Option("--preset", help="Model recipe to start from")] = "deepseek-r1-gb200",
         force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False) -> None:
    """Write a starter topology (the guide's 7-node layout) for a recipe."""
    from pdcompose.topology.starter import starter_topology

    path = file or Path("pdcompose.yaml")
    if path.exists() and not force:
        raise PdcomposeError(f"{path} exists; pass --force to overwrite it")
    from pdcompose.files import write_file

    write_file(path, starter_topology(preset))
    output.say(f"wrote {path} ({preset}); next: pdcompose validate, pdcompose plan --commands, pdcompose render")
