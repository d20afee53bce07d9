"""`pdcompose top`: a live view of every node's figures (rich), or one JSON sample for scripts."""

from __future__ import annotations

import time
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
    deployed_plan,
    handles_errors,
    topology_path,
)

if TYPE_CHECKING:
    from rich.console import JustifyMethod

    from pdcompose.ops.top import Snapshot


@handles_errors
def top(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, rehearsal: RehearsalOpt = False,
        interval: Annotated[float, typer.Option("--delay", "-d", min=0.5, help=(
            "Seconds between refreshes (-d/--delay, as in procps top)"))] = 2.0,
        once: Annotated[bool, typer.Option("--once", help="One sample, then exit")] = False,
        direct: Annotated[bool, typer.Option("--direct", help=(
            "Scrape the nodes' /metrics even when the plan has a Prometheus"))] = False,
        access: AccessOpt = None, as_json: JsonOpt = False) -> None:
    """Per instance and node: requests running/waiting, TTFT and ITL p99, KV-cache usage, NIXL transfers and
    failures, request rate; the router's requests and errors. From Prometheus when monitoring is on, else
    from every node's /metrics."""
    from pdcompose.engine.access import Access, mode_of
    from pdcompose.ops.top import source_for

    plan = deployed_plan(topology_path(topology, file), out, rehearsal)
    ways = Access(mode_of(access or plan.access), output.note)
    source = source_for(plan, direct, ways)
    fallback = source_for(plan, direct=True, access=ways)
    if once:
        snap = _sample(source, fallback)
        if source.__class__ is fallback.__class__:       # direct: a second sample gives rates over `interval`
            time.sleep(interval)
            snap = _sample(source, fallback)
        if as_json:
            output.print_json({"cluster": plan.cluster, **snap.to_json()})
        else:
            output.print_table(_table(plan.cluster, snap, interval))
        return
    from rich.live import Live

    with Live(_table(plan.cluster, _sample(source, fallback), interval), console=output.console(),
              auto_refresh=False, screen=False) as live:
        while True:
            time.sleep(interval)
            live.update(_table(plan.cluster, _sample(source, fallback), interval), refresh=True)


def _sample(source: Any, fallback: Any) -> Snapshot:
    import httpx

    try:
        return source.sample()
    except (httpx.HTTPError, KeyError, ValueError) as exc:     # Prometheus unreachable or not ready
        snap = fallback.sample()
        snap.source = f"metrics (Prometheus at {getattr(source, 'url', '?')} failed: {type(exc).__name__})"
        return snap


def _table(cluster: str, snap: Snapshot, interval: float) -> Any:
    from rich import box
    from rich.table import Table

    from pdcompose.ops.top import fmt_number, fmt_percent, fmt_seconds

    stamp = time.strftime("%H:%M:%S", time.localtime(snap.at))
    table = Table(title=f"pdcompose top: {cluster}  {stamp}  every {interval:g} s  from {snap.source}",
                  title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                  padding=(0, 1), collapse_padding=True)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("node", "left"), ("host", "left"), ("up", "left"), ("run", "right"), ("wait", "right"), ("KV", "right"),
        ("TTFT99", "right"), ("ITL99", "right"), ("req/s", "right"), ("reqs", "right"), ("err", "right"),
        ("xfer", "right"), ("xfail", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for r in snap.rows:
        up = "[green]up[/]" if r.up else "[bold red]DOWN[/]"
        fails = fmt_number(r.nixl_failures)
        name = r.instance if r.role in ("router", "entry") else f"{r.instance}/{r.node}"
        table.add_row(name, r.host, up, fmt_number(r.running), fmt_number(r.waiting),
                      fmt_percent(r.kv_usage), fmt_seconds(r.ttft_p99), fmt_seconds(r.itl_p99),
                      fmt_number(r.request_rate, 1), fmt_number(r.requests), fmt_number(r.errors),
                      fmt_number(r.nixl_transfers), f"[red]{fails}[/]" if r.nixl_failures else fails)
    return table


__all__ = ["top"]
