"""The `pdcompose` command. Thin: parse, call the library, print. Heavy imports happen inside
commands, so `pdcompose --help` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from pdcompose import __version__
from pdcompose.cli import (
    apply_cmd,
    bench_cmds,
    common,
    deploy_cmds,
    doctor_cmds,
    export_cmds,
    firewall_cmds,
    images_cmds,
    lab_cmds,
    models_cmds,
    ops_cmds,
    top_cmd,
    topology_cmds,
)


def _show_switches_as_switches() -> None:
    """typer 0.29 labels an on/off switch `<bool>` in --help (`--strict <bool>`), which reads as if it took
    a value, and `--strict true` is then refused. A switch takes no value: show none."""
    from typing import Any

    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag and not self.metavar else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_show_switches_as_switches()
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
                ops_cmds.restart, apply_cmd.apply, doctor_cmds.doctor, top_cmd.top):
    app.command()(command)
app.command(cls=bench_cmds.BenchCommand)(bench_cmds.bench)     # also `bench compare` and `bench report`
app.add_typer(images_cmds.images_app, name="images")
app.add_typer(export_cmds.export_app, name="export")
app.add_typer(lab_cmds.lab_app, name="lab")
app.add_typer(models_cmds.models_app, name="models")
app.add_typer(firewall_cmds.firewall_app, name="firewall")


def main() -> None:
    import sys

    if "--json" not in sys.argv[1:]:
        app()
        return
    # Under --json every error is JSON on stdout, a usage error too (click would draw a box on stderr).
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort

    try:
        code = app(standalone_mode=False)
    except ClickException as exc:
        common.report_json_error(exc.format_message().replace("Value error, ", ""))
        sys.exit(exc.exit_code)
    except Abort:
        common.report_json_error("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
