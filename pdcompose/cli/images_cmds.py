"""The `images` commands (push, status): registry-less distribution of the images each host needs."""

from __future__ import annotations

from typing import Annotated

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    ContextOpt,
    FileOpt,
    JsonOpt,
    OutOpt,
    RehearsalOpt,
    TimeoutOpt,
    TopologyArg,
    bundle_dir,
    handles_errors,
    load_plan,
    plan_and_hosts,
)

images_app = typer.Typer(name="images", no_args_is_help=True, help=(
    "Images without a registry: copy them from this machine's engine to the hosts (push), or compare (status)."))


@handles_errors
def push(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, context: ContextOpt = None,
         rehearsal: RehearsalOpt = False,
         gzip: Annotated[bool, typer.Option("--gzip", help="Compress the saved images (level 1): less to send")]
         = False,
         loadgen: Annotated[bool | None, typer.Option("--loadgen/--no-loadgen", help=(
             "Also copy the pdcompose image to the router's host: `bench` runs its load generator there when "
             "the hosts are reached through their Docker contexts (default: when the topology says "
             "`access: context`)"))] = None,
         timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Copy the images each host lacks from this machine's engine (save/load), pin them in the lock, re-render."""
    from pdcompose.bench.remote import loadgen_images
    from pdcompose.cli.progress import reporter
    from pdcompose.errors import PdcomposeError
    from pdcompose.images import push as run_push
    from pdcompose.images import update_lock
    from pdcompose.render import render

    path, plan, hosts = plan_and_hosts(topology, file, context, rehearsal, as_json)
    with reporter() as progress:
        extra = loadgen_images(plan) if (plan.access == "context" if loadgen is None else loadgen) else None
        report = run_push(hosts, progress, compress=gzip, timeout=timeout, extra=extra)
    if not report.ok:
        raise PdcomposeError("images push failed, the images lock was not changed (push again: hosts that "
                             "have the images are skipped):\n  "
                             + "\n  ".join(f"{h}: {why}" for h, why in report.failed.items()))
    lock = update_lock(path, report.ids)
    pinned, _ = load_plan(path, plan.rehearsal, quiet=True)
    folder = bundle_dir(out, pinned.rehearsal)
    render(pinned, folder)
    loads = sum(len(v) for v in report.loaded.values())
    if as_json:
        output.print_json({"status": "ok", "ids": report.ids, "loaded": report.loaded, "skipped": report.skipped,
                           "bytes": report.sizes, "seconds": round(report.seconds, 2), "lock": str(lock),
                           "bundle": str(folder)})
        return
    output.say(f"{loads} load(s) on {len(report.loaded)} host(s), {sum(len(v) for v in report.skipped.values())} "
               f"already there, in {report.seconds:.1f} s; pinned in {lock}; re-rendered {folder}/")


@handles_errors
def status(topology: TopologyArg = None, file: FileOpt = None, context: ContextOpt = None,
           rehearsal: RehearsalOpt = False, timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Which image ID each host has, next to this machine's engine and the images lock (exit 1 if one is off)."""
    from pdcompose.cli.doctor_views import image_rows, images_table
    from pdcompose.images import inventory
    from pdcompose.topology.lock import read_lock

    path, plan, hosts = plan_and_hosts(topology, file, context, rehearsal, as_json)
    rows = image_rows(inventory(hosts, read_lock(path), timeout))
    ok = all(r["id"] and r["matches_lock"] is not False for r in rows)
    if as_json:
        output.print_json({"status": "ok" if ok else "degraded", "images": rows})
    else:
        output.print_table(images_table(plan, rows))
    if not ok:
        raise typer.Exit(1)


images_app.command("push")(push)
images_app.command("status")(status)
