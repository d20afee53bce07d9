"""`pdcompose bench`: vllm-bench-style load through the deployed router, tagged with the plan's fingerprint."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand

# typer vendors click: TyperCommand's methods take typer's own copy of click's Context
if TYPE_CHECKING:
    from rich.table import Table
    from typer._click.core import Context as ClickContext

    from pdcompose.bench.pairing import PairingReport
    from pdcompose.bench.result import BenchResult
    from pdcompose.bench.sweep import PointSummary, SweepSummary
    from pdcompose.bench.workload import BenchConfig
    from pdcompose.engine.access import Access
    from pdcompose.plan.models import Plan

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

ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


@handles_errors
def bench(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, rehearsal: RehearsalOpt = False,
          num_prompts: Annotated[int, typer.Option("--num-prompts", "-n", min=1)] = 1000,
          max_concurrency: Annotated[int | None, typer.Option("--max-concurrency", min=1, help=(
              "Requests in flight at most, as in vllm bench serve (-c is --context in every command)"))] = None,
          input_len: Annotated[int, typer.Option("--input-len", min=1, help="Prompt words")] = 1024,
          output_len: Annotated[int, typer.Option("--output-len", min=1, help="Tokens per reply")] = 128,
          range_ratio: Annotated[float, typer.Option("--range-ratio", min=0, max=1)] = 0.0,
          request_rate: Annotated[float, typer.Option("--request-rate", help="Requests/s (inf: all at once)")]
          = math.inf,
          endpoint: Annotated[str, typer.Option("--endpoint", help="completions or chat")] = "completions",
          stream: Annotated[bool, typer.Option("--stream/--no-stream")] = True,
          ignore_eos: Annotated[bool, typer.Option("--ignore-eos/--no-ignore-eos")] = True,
          seed: Annotated[int, typer.Option("--seed")] = 0,
          result_file: Annotated[Path | None, typer.Option("--result", help="JSON result path")] = None,
          print_vllm: Annotated[bool, typer.Option("--print-vllm", help=(
              "Print the equivalent `vllm bench serve` command (for the real image) and exit"))] = False,
          verify_pairing: Annotated[bool | None, typer.Option("--verify-pairing/--no-verify-pairing", help=(
              "Check every request reached exactly one prefill and one decode (mock workers only; "
              "default: on in a rehearsal, off in a sweep)"))] = None,
          sweep: Annotated[list[str] | None, typer.Option("--sweep", help=(
              "Run one point per value, e.g. concurrency=1,4,16 (axes: concurrency, rate, input_len, "
              "output_len; repeat for a grid). --result is then the sweep's folder"))] = None,
          max_failure_rate: Annotated[float, typer.Option("--max-failure-rate", min=0, max=1, help=(
              "Sweep: stop before the next point once a point's failed fraction exceeds this"))] = 0.1,
          name: Annotated[str | None, typer.Option("--name", help=(
              "Sweep: its name in reports and comparisons (default: cluster and fingerprint)"))] = None,
          report: Annotated[bool, typer.Option("--report/--no-report", help=(
              "Sweep: draw its charts and HTML page into <folder>/report (needs matplotlib)"))] = True,
          access: AccessOpt = None, as_json: JsonOpt = False) -> None:
    """Load the router like `vllm bench serve --dataset-name random`; exit 1 if any request failed.

    --sweep: a result file per point, summary.json, PNG charts and an HTML page; exit 1 on an early stop.

    `pdcompose bench compare SWEEP SWEEP...` draws sweeps on the same axes; `bench report SWEEP` redraws one.
    """
    from pdcompose.bench import BenchConfig
    from pdcompose.bench.runner import default_path, run_once
    from pdcompose.bench.vllm_cmd import vllm_bench_command
    from pdcompose.cli.progress import reporter
    from pdcompose.engine.access import Access, mode_of

    plan = deployed_plan(topology_path(topology, file), out, rehearsal)
    ways = Access(mode_of(access or plan.access), output.note)
    if endpoint not in ENDPOINTS:
        raise typer.BadParameter(f"--endpoint must be one of {', '.join(ENDPOINTS)}")
    config = BenchConfig(base_url=plan.entry.url if plan.entry else plan.router.url, **_through_entry(plan),
                         model=plan.served_model_name, endpoint=ENDPOINTS[endpoint],
                         num_prompts=num_prompts, max_concurrency=max_concurrency, request_rate=request_rate,
                         random_input_len=input_len, random_output_len=output_len,
                         random_range_ratio=range_ratio, ignore_eos=ignore_eos, stream=stream, seed=seed)
    if print_vllm:
        output.console().print(vllm_bench_command(config, model=plan.model, multiline=True), markup=False)
        return
    if sweep:
        _sweep(plan, config, sweep, folder=result_file, max_failure_rate=max_failure_rate, name=name,
               report=report, check_pairing=bool(verify_pairing), as_json=as_json, access=ways)
        return
    # The pairing proof reads the mock's records; a real-engine rehearsal (plan.substitutions) has none:
    # there the decode's vllm:nixl_* metrics show the transfers.
    check = verify_pairing if verify_pairing is not None else plan.rehearsal and not plan.substitutions
    run = run_once(plan, config, check_pairing=check, access=ways, watch=reporter, note=output.note)
    result, pairing, unverified = run.result, run.pairing, run.unverified
    path = result.save(result_file or default_path(plan))
    if as_json:
        pairing_json = {**pairing.model_dump(mode="json"), "ok": pairing.ok} if pairing else (
            {"ok": False, "error": unverified} if unverified else None)
        output.print_json({"status": "failed" if run.failed else "ok", "result": str(path),
                           "metrics": result.metrics.model_dump(mode="json"), "pairing": pairing_json})
    else:
        _print(result, pairing, path)
        if unverified:
            output.warn(f"pairing not verified: {unverified}")
    if run.failed:
        raise typer.Exit(1)


def _through_entry(plan: Plan) -> dict[str, str | None]:
    """With an entry, bench calls it: TLS checked against the topology's CA, the first client key sent. In a
    rehearsal whose client-key variable is unset, deploy gave the entry the placeholder: so does bench."""
    if plan.entry is None:
        return {}
    from pdcompose.deploy.preflight import REHEARSAL_PLACEHOLDER

    if plan.rehearsal and not os.environ.get(plan.entry.client_keys):
        os.environ[plan.entry.client_keys] = REHEARSAL_PLACEHOLDER
    return {"ca_file": plan.entry.ca, "key_env": plan.entry.client_keys}


def _print(result: BenchResult, pairing: PairingReport | None, path: Path) -> None:
    from pdcompose.bench.report import render_table

    output.print_table(render_table(result))
    if pairing is not None:
        verdict = "[green]ok[/]" if pairing.ok else "[red]FAILED[/]"
        output.say(f"pairing {verdict}: {pairing.paired}/{pairing.checked} requests reached exactly one prefill and "
                   f"one decode with the same X-Request-ID and KV params; lost {pairing.lost}, duplicated "
                   f"{pairing.duplicated}, mismatched {pairing.mismatched + pairing.kv_mismatched}, KV check failed "
                   f"{pairing.kv_check_failed}")
        for sample in pairing.samples:
            output.note(f"  {sample}")
    for error in result.metrics.sample_errors:
        output.note(f"  failed request: {error}")
    output.say(f"result: {path}")


def _sweep(plan: Plan, config: BenchConfig, specs: list[str], *, folder: Path | None, max_failure_rate: float,
           name: str | None, report: bool, check_pairing: bool, as_json: bool, access: Access) -> None:
    from pdcompose.bench.report import summary_line
    from pdcompose.bench.runner import sweep
    from pdcompose.cli.progress import reporter

    def done(point: PointSummary, result: BenchResult) -> None:
        if not as_json:
            output.say(f"{point.label}: {summary_line(result)}")

    run = sweep(plan, config, specs, folder=folder, max_failure_rate=max_failure_rate, name=name, report=report,
                check_pairing=check_pairing, access=access, watch=reporter, note=output.note, on_point=done)
    summary, files, summary_file = run.summary, run.files, run.folder / "summary.json"
    if as_json:
        output.print_json({"status": "failed" if run.failed else "ok", "summary": str(summary_file),
                           "stopped_early": summary.stopped_early, "not_run": summary.not_run,
                           "problems": run.problems, "report": str(files.html) if files else None,
                           "report_error": run.report_error or None,
                           "points": [p.model_dump(mode="json") for p in summary.points]})
    else:
        output.print_table(_sweep_table(summary))
        if summary.stopped_early:
            output.warn(f"sweep {summary.stopped_early}; not run: {', '.join(summary.not_run)}")
        for problem in run.problems:
            output.warn(problem)
        if run.report_error:
            output.warn(f"no report: {run.report_error}")
        output.say(f"summary: {summary_file}")
        if files:
            output.say(f"report: {files.html} ({', '.join(p.name for p in files.pngs.values())})")
    if run.failed:
        raise typer.Exit(1)


def _sweep_table(summary: SweepSummary) -> Table:
    from rich.table import Table

    def f(x: float | None, digits: int = 1) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    table = Table(title=f"Sweep {summary.name}", title_justify="left", caption=summary.plan.title,
                  caption_justify="left")
    for col in ("point", "ok", "failed", "req/s", "out tok/s", "tok/s/GPU", "tok/s/user", "TTFT p50", "TTFT p99",
                "ITL p50", "ITL p99"):
        table.add_column(col, justify="left" if col == "point" else "right")
    for p in summary.points:
        table.add_row(p.label, str(p.completed), str(p.failed), f(p.request_throughput, 2), f(p.output_throughput),
                      f(p.output_throughput_per_gpu), f(p.tokens_per_user), f(p.ttft_p50_ms), f(p.ttft_p99_ms),
                      f(p.itl_p50_ms, 2), f(p.itl_p99_ms, 2))
    return table


sub_app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
                      help="Reports of saved sweeps.")


@sub_app.command()
@handles_errors
def compare(sweeps: Annotated[list[Path], typer.Argument(help="Sweep folders (or their summary.json)")],
            out: Annotated[Path | None, typer.Option("--result", help=(
                "Folder for the charts and the page (default: bench-results/compare-<time>); like bench's "
                "--result (-o/--output is the rendered bundle bench reads)"))] = None,
            as_json: JsonOpt = False) -> None:
    """Several sweeps on the same axes (one line each), and the gains over the first at matched latency."""
    from pdcompose.bench.charts import gains_rows, render_report, result_data
    from pdcompose.bench.sweep import SweepError, SweepSummary

    if len(sweeps) < 2:
        raise SweepError("compare needs at least two sweeps")
    summaries = [SweepSummary.load(p) for p in sweeps]
    results = {}
    for path, s in zip(sweeps, summaries, strict=True):
        folder = path if path.is_dir() else path.parent
        results.update({f"{folder.name}/{k}": v for k, v in result_data(folder, s).items()})
    out = out or Path("bench-results") / f"compare-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    files = render_report(summaries, out, results=results)
    rows = gains_rows(summaries)
    if as_json:
        pngs = {k: str(v) for k, v in files.pngs.items()}
        output.print_json({"status": "ok", "report": str(files.html), "pngs": pngs,
                           "gains": [{"table": y, "sweep": g.sweep, "at": g.matched, "baseline": g.baseline,
                                      "value": g.value, "ratio": g.ratio} for _, y, g in rows]})
        return
    from rich.table import Table

    table = Table(title=f"Gains over {summaries[0].name} at matched latency", title_justify="left")
    for col in ("metric", "sweep", "at", "baseline", "value", "gain"):
        table.add_column(col, justify="left" if col in ("metric", "sweep") else "right")
    for heading, _, g in rows:
        table.add_row(heading.split(" at ")[0], g.sweep, g.matched, f"{g.baseline:.4g}", f"{g.value:.4g}",
                      f"{g.ratio - 1:+.1%}")
    if rows:
        output.print_table(table)
    else:
        output.warn("the sweeps' measured latencies do not overlap: no gain at matched latency")
    output.say(f"report: {files.html} ({', '.join(p.name for p in files.pngs.values())})")


@sub_app.command("report")
@handles_errors
def report_cmd(sweep: Annotated[Path, typer.Argument(help="A sweep folder (or its summary.json)")],
               out: Annotated[Path | None, typer.Option("--result", help=(
                   "Folder for the charts and the page (default: <sweep>/report); like bench's --result "
                   "(-o/--output is the rendered bundle bench reads)"))] = None,
               as_json: JsonOpt = False) -> None:
    """Draw (again) the charts and the HTML page of a saved sweep."""
    from pdcompose.bench.charts import report_sweep

    files = report_sweep(sweep, out)
    if as_json:
        pngs = {k: str(v) for k, v in files.pngs.items()}
        output.print_json({"status": "ok", "report": str(files.html), "pngs": pngs})
    else:
        output.say(f"report: {files.html} ({', '.join(p.name for p in files.pngs.values())})")


SUBCOMMANDS = ("compare", "report")


class BenchCommand(TyperCommand):
    """`pdcompose bench [TOPOLOGY] [options]` runs a benchmark; `pdcompose bench compare|report ...` hands the
    rest of the line to those subcommands (a group could not also take the topology as its argument)."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if args and args[0] in SUBCOMMANDS:
            group = typer.main.get_command(sub_app)
            # parented by `pdcompose` itself, so that usage lines read `pdcompose bench compare ...`
            ctx.meta["pdcompose.bench.sub"] = (group, group.make_context(ctx.info_name or "bench", list(args),
                                                                          parent=ctx.parent))
            return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: ClickContext) -> object:
        if sub := ctx.meta.get("pdcompose.bench.sub"):
            group, sub_ctx = sub
            with sub_ctx:
                return group.invoke(sub_ctx)
        return super().invoke(ctx)
