"""Benchmark sweeps: one run per point (concurrency, request rate, input or output length), a result file
per point in the usual format, then a summary that the report and `bench compare` read.

    points = parse_sweep(["concurrency=1,4,16"])
    summary = run_sweep(base_config, points, plan=describe_plan(plan), out_dir=Path("sweep"))

A sweep stops before its next point once a point's failure rate passes `max_failure_rate`: pushing a
cluster further past the load it already fails at costs time and says nothing new. The summary keeps
the reason, and the points that were not run.

Per-GPU and per-user figures, as in the PD-disaggregation write-ups: output tokens/s per GPU is the
output throughput divided by the GPUs of every prefill and decode node of the plan; tokens/s per user
is 1000 / mean TPOT (ms), the rate at which one stream's tokens arrive once it has started.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field

from pdcompose.bench.result import BenchResult
from pdcompose.bench.workload import BenchConfig
from pdcompose.errors import PdcomposeError
from pdcompose.frozen import Frozen

SUMMARY_SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"

# axis name -> (BenchConfig field, short label for file names and legends)
AXES: dict[str, tuple[str, str]] = {
    "concurrency": ("max_concurrency", "c"),
    "rate": ("request_rate", "rate"),
    "input_len": ("random_input_len", "in"),
    "output_len": ("random_output_len", "out"),
}
ALIASES = {"c": "concurrency", "max_concurrency": "concurrency", "request_rate": "rate", "input": "input_len",
           "output": "output_len", "isl": "input_len", "osl": "output_len"}

Axis = Literal["concurrency", "rate", "input_len", "output_len"]
Value = int | float


class SweepError(PdcomposeError):
    """A sweep specification or a summary file that cannot be used."""


def _value(axis: str, text: str) -> Value:
    text = text.strip()
    if axis == "rate":
        v = math.inf if text.lower() in ("inf", "infinity") else float(text)
        if not v > 0:
            raise ValueError
        return v
    n = int(text)
    if n < 1:
        raise ValueError
    return n


def parse_axis(spec: str) -> tuple[str, list[Value]]:
    """`concurrency=1,4,16` -> ("concurrency", [1, 4, 16])."""
    name, sep, values = spec.partition("=")
    name = ALIASES.get(name.strip().lower().replace("-", "_"), name.strip().lower().replace("-", "_"))
    if not sep or name not in AXES:
        raise SweepError(f"--sweep {spec!r}: expected AXIS=V1,V2,... with AXIS one of {', '.join(AXES)}")
    out: list[Value] = []
    for text in values.split(","):
        try:
            v = _value(name, text)
        except ValueError:
            kind = "a positive number or inf" if name == "rate" else "a positive integer"
            raise SweepError(f"--sweep {spec!r}: {text.strip()!r} is not {kind}") from None
        if v in out:
            raise SweepError(f"--sweep {spec!r}: {text.strip()} is given twice")
        out.append(v)
    return name, out


def parse_sweep(specs: Sequence[str]) -> list[dict[str, Value]]:
    """Every combination of the axes' values, the first axis outermost, each axis in the order given."""
    axes: dict[str, list[Value]] = {}
    for spec in specs:
        name, values = parse_axis(spec)
        if name in axes:
            raise SweepError(f"--sweep: axis {name} is given twice")
        axes[name] = values
    if not axes:
        raise SweepError("--sweep: no axis given")
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def point_label(params: dict[str, Value]) -> str:
    """`c=4`, `c=4,in=512`: short, for file names, legends and messages."""
    return ",".join(f"{AXES[k][1]}={_fmt(v)}" for k, v in params.items())


def _fmt(v: Value) -> str:
    return "inf" if isinstance(v, float) and math.isinf(v) else f"{v:g}"


def point_config(base: BenchConfig, params: dict[str, Value]) -> BenchConfig:
    return base.model_copy(update={AXES[k][0]: v for k, v in params.items()})


class PlanInfo(Frozen):
    """What a sweep ran against, for titles and for comparing sweeps."""

    cluster: str
    fingerprint: str
    model: str = ""
    topology: str = Field(description="e.g. '2P x 1 node TP1/DP2, 1D x 2 nodes TP1/DP4'")
    gpus: int = Field(description="GPUs of every prefill and decode node")
    vllm_version: str = ""
    rehearsal: bool = False

    @property
    def title(self) -> str:
        version = f"vLLM {self.vllm_version}" if self.vllm_version else "vLLM ?"
        mock = " (rehearsal, mock vLLM)" if self.rehearsal else ""
        return f"{self.cluster} @ {self.fingerprint} | {self.topology} | {version}{mock}"


def _role_shape(plan: Any, role: str) -> str:
    """`2P x 1 node TP1/DP2` for a role; instances of different shapes are listed one by one."""
    instances: dict[int, list[Any]] = {}
    for _, c in plan.containers(role):
        instances.setdefault(c.instance or 0, []).append(c)
    shapes: dict[str, int] = {}
    for nodes in instances.values():
        first = nodes[0]
        tp = first.tp or 1
        dp = first.dp.size if first.dp else 1
        n = len(nodes)
        shape = f"{n} node{'s' if n > 1 else ''} TP{tp}/DP{dp}"
        shapes[shape] = shapes.get(shape, 0) + 1
    letter = role[0].upper()
    return " + ".join(f"{count}{letter} x {shape}" for shape, count in shapes.items()) or f"0{letter}"


def container_gpus(c: Any) -> int:
    if c.gpus:
        return len(c.gpus)
    return (c.tp or 1) * (c.dp.local if c.dp else 1)


def describe_plan(plan: Any) -> PlanInfo:
    """Cluster, fingerprint, topology shape, GPU count and vLLM version(s) of a `pdcompose.plan.models.Plan`."""
    workers = [c for _, c in plan.workers()]
    versions = sorted({c.vllm_version for c in workers if c.vllm_version})
    return PlanInfo(cluster=plan.cluster, fingerprint=plan.fingerprint, model=plan.model,
                    topology=f"{_role_shape(plan, 'prefill')}, {_role_shape(plan, 'decode')}",
                    gpus=sum(container_gpus(c) for c in workers), vllm_version="/".join(versions),
                    rehearsal=plan.rehearsal)


class PointSummary(Frozen):
    """One point of a sweep: its parameters, its result file and the figures the charts use."""

    model_config = ConfigDict(ser_json_inf_nan="strings")

    label: str
    params: dict[str, float]
    result: str = Field(description="the point's result file, relative to the summary")
    fingerprint: str
    concurrency: int | None
    request_rate: float
    num_prompts: int
    completed: int
    failed: int
    failure_rate: float
    duration_s: float
    request_throughput: float
    output_throughput: float
    output_throughput_per_gpu: float | None
    tokens_per_user: float | None = Field(description="1000 / mean TPOT (ms)")
    ttft_mean_ms: float | None
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    tpot_mean_ms: float | None
    tpot_p50_ms: float | None
    tpot_p99_ms: float | None
    itl_mean_ms: float | None
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    e2el_p50_ms: float | None
    e2el_p99_ms: float | None

    @classmethod
    def of(cls, result: BenchResult, *, label: str, params: dict[str, Value], result_file: str,
           gpus: int) -> PointSummary:
        m, cfg = result.metrics, result.config
        total = m.completed + m.failed

        def stat(name: str, key: str) -> float | None:
            s = getattr(m, name)
            return None if s is None else getattr(s, key)

        tpot = stat("tpot", "mean_ms")
        return cls(label=label, params={k: float(v) for k, v in params.items()}, result=result_file,
                   fingerprint=result.fingerprint, concurrency=cfg.max_concurrency,
                   request_rate=cfg.request_rate, num_prompts=cfg.num_prompts, completed=m.completed,
                   failed=m.failed, failure_rate=m.failed / total if total else 0.0, duration_s=m.duration_s,
                   request_throughput=m.request_throughput, output_throughput=m.output_throughput,
                   output_throughput_per_gpu=m.output_throughput / gpus if gpus else None,
                   tokens_per_user=1000 / tpot if tpot else None,
                   ttft_mean_ms=stat("ttft", "mean_ms"), ttft_p50_ms=stat("ttft", "median_ms"),
                   ttft_p99_ms=stat("ttft", "p99_ms"), tpot_mean_ms=tpot,
                   tpot_p50_ms=stat("tpot", "median_ms"), tpot_p99_ms=stat("tpot", "p99_ms"),
                   itl_mean_ms=stat("itl", "mean_ms"), itl_p50_ms=stat("itl", "median_ms"),
                   itl_p99_ms=stat("itl", "p99_ms"), e2el_p50_ms=stat("e2el", "median_ms"),
                   e2el_p99_ms=stat("e2el", "p99_ms"))


class SweepSummary(Frozen):
    model_config = ConfigDict(ser_json_inf_nan="strings")

    kind: Literal["pdcompose-sweep"] = "pdcompose-sweep"
    schema_version: int = SUMMARY_SCHEMA_VERSION
    name: str = Field(description="what legends call this sweep")
    plan: PlanInfo
    axes: dict[str, list[float]]
    base: BenchConfig
    max_failure_rate: float | None
    started_at: datetime
    finished_at: datetime
    points: list[PointSummary]
    not_run: list[str] = Field(default_factory=list, description="labels of the points skipped by an early stop")
    stopped_early: str = Field("", description="why the sweep stopped before its last point")

    @property
    def x_axis(self) -> str:
        """The axis the charts put on x: concurrency when it is swept (or the first axis swept)."""
        return "concurrency" if "concurrency" in self.axes or not self.axes else next(iter(self.axes))

    def save(self, folder: str | Path) -> Path:
        from pdcompose.files import write_file

        return write_file(Path(folder) / SUMMARY_FILE, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SweepSummary:
        """A summary file, or the folder that holds one."""
        path = Path(path)
        if path.is_dir():
            path = path / SUMMARY_FILE
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SweepError(f"{path}: cannot read the sweep summary: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise SweepError(f"{path}: not a pdcompose sweep summary: {str(exc).splitlines()[0]}") from None


PointRunner = Callable[[BenchConfig, str], BenchResult]      # (config, label) -> result
PointDone = Callable[[PointSummary, BenchResult], None]


def run_sweep(base: BenchConfig, points: Sequence[dict[str, Value]], *, plan: PlanInfo, out_dir: str | Path,
              run_point: PointRunner, name: str = "", max_failure_rate: float | None = None,
              on_point: PointDone | None = None) -> SweepSummary:
    """Run each point with `run_point`, save its result as `NN-<label>.json` in `out_dir`, stop early past
    `max_failure_rate` (a fraction), and save the summary (also after an early stop)."""
    out_dir = Path(out_dir)
    axes: dict[str, list[float]] = {}
    for p in points:
        for k, v in p.items():
            if float(v) not in axes.setdefault(k, []):
                axes[k].append(float(v))
    started = datetime.now(UTC)
    done: list[PointSummary] = []
    not_run: list[str] = []
    reason = ""
    width = len(str(len(points)))
    for i, params in enumerate(points, 1):
        label = point_label(params)
        if reason:
            not_run.append(label)
            continue
        result = run_point(point_config(base, params), label)
        file = f"{i:0{width}d}-{label.replace(',', '_').replace('=', '')}.json"
        result.save(out_dir / file)
        point = PointSummary.of(result, label=label, params=params, result_file=file, gpus=plan.gpus)
        done.append(point)
        if on_point is not None:
            on_point(point, result)
        if max_failure_rate is not None and point.failure_rate > max_failure_rate and i < len(points):
            reason = (f"stopped after {label}: failure rate {point.failure_rate:.1%} > "
                      f"--max-failure-rate {max_failure_rate:.1%}")
    summary = SweepSummary(name=name or f"{plan.cluster} {plan.fingerprint}", plan=plan, axes=axes, base=base,
                           max_failure_rate=max_failure_rate, started_at=started, finished_at=datetime.now(UTC),
                           points=done, not_run=not_run, stopped_early=reason)
    summary.save(out_dir)
    return summary
