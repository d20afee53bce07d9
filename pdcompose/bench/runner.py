"""`pdcompose bench` as a library: one run through the deployed router (from here, or from the router's
host through its Docker context when only the context reaches it), the pairing proof of a rehearsal, and a
sweep of such runs with its report. The CLI (cli/bench_cmds.py) parses options and prints; nothing here
prints or exits: progress and notes go to the callables the caller passes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pdcompose.progress import Reporter

if TYPE_CHECKING:
    from pdcompose.bench.charts import ReportFiles
    from pdcompose.bench.pairing import PairingReport
    from pdcompose.bench.result import BenchResult
    from pdcompose.bench.sweep import PointDone, SweepSummary
    from pdcompose.bench.workload import BenchConfig
    from pdcompose.engine.access import Access
    from pdcompose.plan.models import Plan

Note = Callable[[str], None]
Watch = Callable[[str], AbstractContextManager[Reporter]]     # a run's reporter, by label (cli.progress.reporter)


@dataclass(frozen=True)
class Run:
    result: BenchResult
    pairing: PairingReport | None = None
    unverified: str | None = None            # why the pairing could not be checked (a worker died, say)

    @property
    def pairing_problem(self) -> str | None:
        if self.unverified:
            return f"pairing {self.unverified}"
        if self.pairing is not None and not self.pairing.ok:
            return f"pairing {self.pairing.paired}/{self.pairing.checked} paired"
        return None

    @property
    def failed(self) -> bool:
        return self.result.metrics.failed > 0 or self.pairing_problem is not None


def run_once(plan: Plan, config: BenchConfig, *, check_pairing: bool, access: Access, watch: Watch, note: Note,
             point: str = "") -> Run:
    """One benchmark run, labelled with the cluster (and the sweep point), and its pairing proof if asked."""
    from pdcompose.bench import run_bench
    from pdcompose.bench.pairing import PairingError
    from pdcompose.bench.pairing import check_pairing as check
    from pdcompose.bench.remote import run_on_host, stats_through

    labels = {"cluster": plan.cluster, "rehearsal": str(plan.rehearsal).lower(), "router": plan.router.url}
    if plan.entry is not None:
        labels["entry"] = plan.entry.url
    if point:
        labels["sweep_point"] = point
    router_host = plan.host(plan.router.host)
    # Through an entry bench runs from here: the CA file and the client key are on this machine.
    inside = plan.entry is None and router_way(plan, access) == "context"
    if inside:
        labels["load_generator"] = f"{router_host.name} (through its Docker context)"
    note(f"benchmarking {config.base_url}: {config.num_prompts} requests, concurrency "
         f"{config.max_concurrency or 'unbounded'}, {config.random_input_len} in / "
         f"{config.random_output_len} out" + (f" (point {point})" if point else "")
         + (f", from {router_host.name} through its Docker context" if inside else ""))
    if inside:
        result = run_on_host(router_host, config, plan.fingerprint, labels)
    else:
        with watch(point or "bench") as progress:
            result = run_bench(config, fingerprint=plan.fingerprint, labels=labels, progress=progress.requests)
    if not check_pairing:
        return Run(result)
    try:
        return Run(result, pairing=check(result.traceparents_ok, stats_through(plan, access)))
    except PairingError as exc:  # e.g. a worker died during the run: the metrics still stand
        return Run(result, unverified=str(exc))


def router_way(plan: Plan, access: Access) -> str:
    """How the router is reached: asked once (its /health both ways, in auto); a router that answers
    neither way is benchmarked from here, as before, and its requests fail with their own errors."""
    from pdcompose.engine.inside import Request

    if access.mode != "auto":
        return str(access.mode)
    host = plan.host(plan.router.host)
    access.fetch(host, [Request(f"{plan.router.url}/health")], via="router")
    return str(access.ways().get(host.name, "direct"))


def default_path(plan: Plan, kind: str = "") -> Path:
    """bench-results/<cluster>-<fingerprint>-<time>.json (a sweep: a folder with `kind` in its name)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if kind:
        return Path("bench-results") / f"{plan.cluster}-{plan.fingerprint}-{kind}-{stamp}"
    return Path("bench-results") / f"{plan.cluster}-{plan.fingerprint}-{stamp}.json"


@dataclass(frozen=True)
class SweepRun:
    folder: Path
    summary: SweepSummary
    problems: list[str] = field(default_factory=list)   # a point's pairing that failed or was not checked
    files: ReportFiles | None = None
    report_error: str = ""                                # why there is no report (matplotlib missing, say)

    @property
    def failed(self) -> bool:
        return bool(self.summary.stopped_early or self.problems)


def sweep(plan: Plan, config: BenchConfig, specs: list[str], *, folder: Path | None, max_failure_rate: float,
          name: str | None, report: bool, check_pairing: bool, access: Access, watch: Watch, note: Note,
          on_point: PointDone | None = None) -> SweepRun:
    """One run per point of `specs` (`concurrency=1,4,16`, ...) into `folder`, a summary, and its report."""
    from pdcompose.bench.sweep import SUMMARY_FILE, SweepError, describe_plan, parse_sweep, run_sweep

    points = parse_sweep(specs)
    info = describe_plan(plan)
    folder = folder or default_path(plan, "sweep")
    if (folder / SUMMARY_FILE).exists():
        raise SweepError(f"{folder}: already holds a sweep; give another --result folder")
    from pdcompose.bench.charts import not_a_bundle

    not_a_bundle(folder)
    note(f"sweep of {len(points)} points into {folder}: {info.title}")
    problems: list[str] = []

    def run_point(cfg: BenchConfig, label: str) -> BenchResult:
        run = run_once(plan, cfg, check_pairing=check_pairing, access=access, watch=watch, note=note, point=label)
        if run.pairing_problem:
            problems.append(f"{label}: {run.pairing_problem}")
        return run.result

    summary = run_sweep(config, points, plan=info, out_dir=folder, run_point=run_point, name=name or "",
                        max_failure_rate=max_failure_rate, on_point=on_point)
    files, report_error = None, ""
    if report and summary.points:
        from pdcompose.bench.charts import report_sweep

        try:
            files = report_sweep(folder)
        except SweepError as exc:          # e.g. matplotlib missing: the measurements stand
            report_error = str(exc)
    return SweepRun(folder, summary, problems, files, report_error)
