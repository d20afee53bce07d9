"""The `models` commands (status, push, pull): the model's weights in every host's HF cache, one revision."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    ContextOpt,
    FileOpt,
    JsonOpt,
    RehearsalOpt,
    TopologyArg,
    handles_errors,
    plan_and_hosts,
)

if TYPE_CHECKING:
    from pdcompose.models.inventory import Inventory
    from pdcompose.models.judge import Problem
    from pdcompose.plan.models import Plan

models_app = typer.Typer(name="models", no_args_is_help=True, help=(
    "The model's weights on every host: what each HF cache holds (status), copy them from this machine "
    "(push, air-gapped) or let each host download them (pull)."))
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds each host's cache listing may take")]
ParallelOpt = Annotated[int, typer.Option("--parallel", min=1, max=64, help="Hosts transferring at once")]


def status_rows(inv: Inventory, problems: list[Problem]) -> list[dict[str, Any]]:
    by_host: dict[str, list[Problem]] = {}
    for p in problems:
        by_host.setdefault(p.host, []).append(p)
    rows = []
    for name, c in inv.caches.items():
        mine = by_host.get(name, [])
        rows.append({"host": name, "cache": c.cache, "shared_with": inv.shared_with(name),
                     "state": mine[0].kind if mine else "ok", "commit": c.commit,
                     "present": c.complete, "bytes": c.size if c.complete else None, "free_bytes": c.free or None,
                     "partial_bytes": sum(c.partial.values()) or None,
                     "problems": [{"kind": p.kind, "detail": p.detail, "fix": p.fix} for p in mine]})
    return rows


def _table(plan: Plan, inv: Inventory, rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=f"{plan.model} @ {inv.revision}")
    for column in ("host", "cache", "state", "commit", "size", "free"):
        table.add_column(column)
    for r in rows:
        shared = f" (shared with {', '.join(r['shared_with'])})" if r["shared_with"] else ""
        state = "[green]ok[/]" if r["state"] == "ok" else f"[red]{r['state']}[/]"
        table.add_row(r["host"], output._escape(r["cache"] + shared), state, (r["commit"] or "-")[:12],
                      _mb(r["bytes"]), _mb(r["free_bytes"]))
    return table


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.1f} MB"


@handles_errors
def status(topology: TopologyArg = None, file: FileOpt = None, context: ContextOpt = None,
           rehearsal: RehearsalOpt = False, timeout: TimeoutOpt = 60.0, as_json: JsonOpt = False) -> None:
    """Per host: is the model's revision in its HF cache, which commit, its size, free space (exit 1 if off)."""
    from pdcompose.models.inventory import inventory
    from pdcompose.models.judge import problems

    _, plan, hosts = plan_and_hosts(topology, file, context, rehearsal, as_json)
    inv = inventory(plan, hosts, timeout)
    found = problems(inv)
    rows = status_rows(inv, found)
    caches = len(inv.groups())
    if as_json:
        output.print_json({"status": "degraded" if found else "ok", "model": plan.model, "revision": inv.revision,
                           "caches": caches, "hosts": rows})
    else:
        output.print_table(_table(plan, inv, rows))
        output.say(f"{len(rows)} host(s), {caches} distinct cache(s)")
        for p in found:
            output.warn(f"{p.host}: {p.detail} (fix: {p.fix})")
    if found:
        raise typer.Exit(1)


@handles_errors
def push(topology: TopologyArg = None, file: FileOpt = None, context: ContextOpt = None,
         rehearsal: RehearsalOpt = False,
         source_cache: Annotated[Path | None, typer.Option("--source-cache", help=(
             "This machine's HF hub cache (default: HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub)"))]
         = None,
         from_host: Annotated[str | None, typer.Option("--from-host", help=(
             "Copy from this host's cache (a host of the topology) instead of this machine's"))] = None,
         parallel: ParallelOpt = 4, timeout: TimeoutOpt = 60.0, as_json: JsonOpt = False) -> None:
    """Copy the model's revision from this machine's HF cache to the hosts (only what they lack; resumable)."""
    from pdcompose.cli.progress import reporter
    from pdcompose.errors import PdcomposeError
    from pdcompose.models.hfcache import default_hub_cache
    from pdcompose.models.push import push as run_push

    _, plan, hosts = plan_and_hosts(topology, file, context, rehearsal, as_json)
    source = None
    if from_host:
        source = next((h for h in plan.hosts if h.name == from_host and h.hf_cache), None)
        if source is None:
            raise PdcomposeError(f"--from-host {from_host}: no host of that name runs vLLM with an hf_cache here "
                                 f"(hosts: {', '.join(h.name for h in plan.hosts if h.hf_cache)})")
    with reporter() as progress:
        report = run_push(plan, hosts, source_cache or default_hub_cache(), progress, timeout, parallel, source)
    if not report.ok:
        raise PdcomposeError("models push failed (push again: what arrived whole is kept, a partial file is "
                             "resumed):\n  " + "\n  ".join(f"{h}: {why}" for h, why in report.failed.items()))
    if as_json:
        output.print_json({"status": "ok", "commit": report.commit, "sent_bytes": report.sent,
                           "resumed_bytes": report.resumed, "already_there": report.skipped,
                           "shared": report.shared, "seconds": round(report.seconds, 2)})
        return
    output.say(f"{plan.model}@{report.commit[:12]}: {sum(report.sent.values()) / 1e6:.1f} MB sent to "
               f"{len(report.sent)} cache(s) in {report.seconds:.1f} s"
               + (f"; shared caches: {', '.join(f'{h} (via {v})' for h, v in report.shared.items())}"
                  if report.shared else ""))


@handles_errors
def pull(topology: TopologyArg = None, file: FileOpt = None, context: ContextOpt = None,
         rehearsal: RehearsalOpt = False,
         endpoint: Annotated[str | None, typer.Option("--endpoint", envvar="HF_ENDPOINT", help=(
             "The hub (or a mirror) the hosts download from (default: HF_ENDPOINT, else huggingface.co)"))] = None,
         parallel: ParallelOpt = 8, timeout: TimeoutOpt = 60.0, as_json: JsonOpt = False) -> None:
    """Each host (one per shared cache) downloads the model's revision with the vLLM image's huggingface_hub."""
    from pdcompose.cli.progress import reporter
    from pdcompose.errors import PdcomposeError
    from pdcompose.models.pull import pull as run_pull

    _, plan, hosts = plan_and_hosts(topology, file, context, rehearsal, as_json)
    with reporter() as progress:
        report = run_pull(plan, hosts, progress, endpoint, timeout, parallel)
    if not report.ok:
        raise PdcomposeError("models pull failed (pull again: partial files are resumed):\n  "
                             + "\n  ".join(f"{h}: {why}" for h, why in report.failed.items()))
    if as_json:
        output.print_json({"status": "ok", "commits": report.commits, "fetched_bytes": report.bytes,
                           "shared": report.shared, "seconds": round(report.seconds, 2)})
        return
    output.say(f"{plan.model}: {sum(report.bytes.values()) / 1e6:.1f} MB fetched by {len(report.commits)} "
               f"cache(s) in {report.seconds:.1f} s; commits: "
               + ", ".join(f"{h} {c[:12]}" for h, c in report.commits.items()))


models_app.command("status")(status)
models_app.command("pull")(pull)
models_app.command("push")(push)
