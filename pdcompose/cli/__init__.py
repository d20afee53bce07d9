"""The `pdcompose` command. Thin: parse, call the library, print. Heavy imports happen inside
commands, so `pdcompose --help` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from pdcompose import __version__
from pdcompose.cli import (
    bench_cmds,
    common,
    deploy_cmds,
    doctor_cmds,
    export_cmds,
    images_cmds,
    lab_cmds,
    ops_cmds,
    top_cmd,
    topology_cmds,
)

app = typer.Typer(
    name="pdcompose", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Prefill/decode-disaggregated vLLM on plain Docker hosts: one topology file -> per-host Compose "
         "bundles -> health-gated deploys. Commands read ./pdcompose.yaml unless given -f FILE.",
)


def _version(value: bool) -> None:
    if value:
        print(f"pdcompose {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Tracebacks and Docker command lines")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit")] = False,
) -> None:
    common.VERBOSE["on"] = verbose
    from pdcompose.engine.sshmux import enable

    enable()      # ssh:// contexts: one SSH connection per host, not one per docker call


for command in (topology_cmds.init, topology_cmds.validate, topology_cmds.plan, topology_cmds.render,
                topology_cmds.schema, deploy_cmds.deploy, ops_cmds.status, ops_cmds.logs, ops_cmds.down,
                ops_cmds.restart, doctor_cmds.doctor, top_cmd.top):
    app.command()(command)
app.command(cls=bench_cmds.BenchCommand)(bench_cmds.bench)     # also `bench compare` and `bench report`
app.add_typer(images_cmds.images_app, name="images")
app.add_typer(export_cmds.export_app, name="export")
app.add_typer(lab_cmds.lab_app, name="lab")


def main() -> None:
    app()
