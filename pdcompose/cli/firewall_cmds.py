"""`pdcompose firewall show|apply|remove`: the per-host nftables rules of `firewall: {enabled: true}`,
applied and removed only by these explicit commands (deploy never touches a host's firewall)."""

from __future__ import annotations

from typing import Annotated

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    ContextOpt,
    FileOpt,
    OutOpt,
    RehearsalOpt,
    TopologyArg,
    deployed_plan,
    handles_errors,
    topology_path,
)
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host, Plan

firewall_app = typer.Typer(no_args_is_help=True, help=(
    "The hosts' firewall (nftables): only the cluster's hosts reach worker, RPC, NIXL and metrics ports; "
    "everyone reaches the entry port. Never applied by deploy."))


def _plan(topology: TopologyArg, file: FileOpt, out: OutOpt, rehearsal: bool) -> Plan:
    plan = deployed_plan(topology_path(topology, file), out, rehearsal)
    if plan.firewall is None:
        raise PdcomposeError("the topology has no firewall: set firewall: {enabled: true} and render again")
    return plan


def _hosts(plan: Plan, context: list[str] | None, acting: bool) -> list[Host]:
    from pdcompose.deploy.selection import select_hosts

    hosts = select_hosts(plan, tuple(context or ()))
    shared = [h.name for h in hosts if h.address.startswith("127.")]
    if acting and shared:
        raise PdcomposeError(f"{', '.join(shared)}: a loopback rehearsal's hosts are this machine itself; rules "
                             "there would act on this machine's own network. Rehearse the firewall in a "
                             "`pdcompose lab` (each host its own network namespace)")
    return hosts


@firewall_app.command()
@handles_errors
def show(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, context: ContextOpt = None,
         rehearsal: RehearsalOpt = False,
         live: Annotated[bool, typer.Option("--live", help=(
             "Compare each host's applied rules with the plan's (exit 1 on any difference)"))] = False) -> None:
    """Print each host's rules, or with --live what each host's kernel has that differs from them."""
    from pdcompose.engine import firewall
    from pdcompose.plan.firewall import drift, ruleset, table_name

    plan = _plan(topology, file, out, rehearsal)
    bad = 0
    for host in _hosts(plan, context, acting=live):
        if not live:
            output.console().print(ruleset(plan, host), markup=False)
            continue
        problems = drift(plan, host, firewall.live(host, table_name(plan)))
        bad += bool(problems)
        output.say(f"{host.name}: " + ("as planned" if not problems else "; ".join(problems)))
    if bad:
        raise typer.Exit(1)


@firewall_app.command()
@handles_errors
def apply(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, context: ContextOpt = None,
          rehearsal: RehearsalOpt = False) -> None:
    """Load each host's rules (replacing the cluster's earlier ones, nothing else), then check them."""
    from pdcompose.engine import firewall
    from pdcompose.plan.firewall import drift, ruleset, table_name

    plan = _plan(topology, file, out, rehearsal)
    for host in _hosts(plan, context, acting=True):
        firewall.apply(host, ruleset(plan, host))
        problems = drift(plan, host, firewall.live(host, table_name(plan)))
        if problems:
            raise PdcomposeError(f"{host.name}: applied, but the kernel's rules differ: {'; '.join(problems)}")
        output.say(f"{host.name}: firewall applied (table inet {table_name(plan)})")


@firewall_app.command()
@handles_errors
def remove(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, context: ContextOpt = None,
           rehearsal: RehearsalOpt = False) -> None:
    """Delete the cluster's table on each host (the rest of the host's ruleset is left alone)."""
    from pdcompose.engine import firewall
    from pdcompose.plan.firewall import table_name

    plan = _plan(topology, file, out, rehearsal)
    for host in _hosts(plan, context, acting=True):
        gone = firewall.remove(host, table_name(plan))
        output.say(f"{host.name}: " + ("firewall removed" if gone else "no firewall to remove"))
