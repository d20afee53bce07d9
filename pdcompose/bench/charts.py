"""Charts of sweeps, as PNG files and one self-contained HTML page (matplotlib, the `report` extra).

    files = render_report([SweepSummary.load("sweep/")], "sweep/report")         # one sweep
    files = render_report([a, b], "compare/")                                    # one line per sweep

Three charts, each titled with what was measured (cluster, plan fingerprint, topology, vLLM version):
- pareto.png: output tokens/s per GPU against tokens/s per user, one point per sweep point;
- latency.png: TTFT and ITL, p50 (solid) and p99 (dashed), against concurrency (or the swept axis);
- throughput.png: request throughput and failed requests against the same axis.

Each PNG carries its series as a `pdcompose:series` text chunk (JSON: one entry per line drawn) and the
HTML page embeds the images as base64 and every data point as JSON (`<script id="pdcompose-data">`), so
a page is one file that can be mailed, and tests (or people) can read what was drawn without pixels.

With two or more sweeps the page adds the gains at matched latency: at the latency of each of the first
sweep's points, the best output tokens/s per GPU that each sweep measured at that tokens/s per user or
more (matched mean TPOT), and the best request throughput at that p99 TTFT or less; measured points
only, no interpolation (a curve that is flat in latency, as the mock's TPOT is, would make one up).
Figures are drawn with matplotlib's object API (no pyplot): no display, no global backend switch.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdcompose.bench.sweep import AXES, PointSummary, SweepError, SweepSummary
from pdcompose.files import make_dir, write_file

CHARTS = ("pareto", "latency", "throughput")
HTML_FILE = "report.html"
SERIES_KEY = "pdcompose:series"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
LEGEND_HANDLE = 4.0     # legend line length in font sizes: room for the dashes of a dashed line
AXIS_TITLES = {"concurrency": "max concurrency (requests in flight)", "rate": "request rate (req/s)",
               "input_len": "input length (tokens)", "output_len": "output length (tokens)"}


class ReportError(SweepError):
    """The report cannot be drawn (matplotlib missing, sweeps on different axes)."""


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    pngs: dict[str, Path]
    html: Path


@dataclass(frozen=True)
class Gain:
    sweep: str
    matched: str          # e.g. "28.4 tok/s/user"
    baseline: float
    value: float

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else math.nan


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError("charts need matplotlib: pip install 'pdcompose[report]' (make setup installs it)") \
            from None
    return Figure


def x_axis(sweeps: Sequence[SweepSummary]) -> str:
    axes = {s.x_axis for s in sweeps}
    if len(axes) != 1:
        raise ReportError(f"the sweeps vary different axes ({', '.join(sorted(axes))}): they cannot share charts")
    return axes.pop()


def x_value(p: PointSummary, axis: str) -> float:
    if axis in p.params:
        return p.params[axis]
    return {"concurrency": p.concurrency or math.inf, "rate": p.request_rate}.get(axis, math.nan)


def _finite(xs: Sequence[float]) -> bool:
    return all(math.isfinite(x) for x in xs)


def _names(sweeps: Sequence[SweepSummary]) -> list[str]:
    """Legend names: each sweep's name, made unique."""
    names: list[str] = []
    for s in sweeps:
        name, n = s.name, 2
        while name in names:
            name, n = f"{s.name} ({n})", n + 1
        names.append(name)
    return names


def _title(sweeps: Sequence[SweepSummary], what: str) -> str:
    lines = [what] + [s.plan.title for s in sweeps]
    if len(sweeps) > 1:
        lines[1:] = [f"{name}: {s.plan.title}" for name, s in zip(_names(sweeps), sweeps, strict=True)]
    return "\n".join(dict.fromkeys(lines))


def _xscale(ax: Any, xs: Sequence[float]) -> None:
    finite = [x for x in xs if math.isfinite(x) and x > 0]
    if finite and max(finite) / min(finite) >= 8:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(finite)))
        ax.get_xaxis().set_major_formatter(_plain_formatter())


def _plain_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:g}")


def _series(sweeps: Sequence[SweepSummary], axis: str, y: str) -> list[dict[str, Any]]:
    out = []
    for name, s in zip(_names(sweeps), sweeps, strict=True):
        pts = [(x_value(p, axis), getattr(p, y), p.label) for p in s.points]
        pts = [(x, v, label) for x, v, label in pts if v is not None and not math.isnan(x)]
        out.append({"sweep": name, "metric": y, "x": [p[0] for p in pts], "y": [p[1] for p in pts],
                    "labels": [p[2] for p in pts]})
    return out


def _save(fig: Any, path: Path, series: list[dict[str, Any]], title: str) -> Path:
    meta = json.dumps(plain_json(series), allow_nan=False, separators=(",", ":"))
    import io

    png = io.BytesIO()         # drawn in memory, then written like every other file (atomic, clean errors)
    fig.savefig(png, format="png", dpi=100, metadata={"Title": title.replace("\n", " | "),
                                                      "Software": "pdcompose", SERIES_KEY: meta})
    return write_file(path, png.getvalue())


def _new_figure(cols: int) -> tuple[Any, list[Any]]:
    fig = _figure_class()(figsize=(6.4 * cols, 5.4), layout="constrained")
    axs = [fig.add_subplot(1, cols, i + 1) for i in range(cols)]
    for ax in axs:
        ax.grid(True, which="major", alpha=0.35)
    return fig, axs


def _pareto(sweeps: Sequence[SweepSummary], path: Path) -> Path:
    fig, (ax,) = _new_figure(1)
    fig.set_size_inches(7.4, 5.8)
    series = []
    for i, (name, s) in enumerate(zip(_names(sweeps), sweeps, strict=True)):
        pts = [p for p in s.points if p.tokens_per_user is not None and p.output_throughput_per_gpu is not None]
        xs = [p.tokens_per_user for p in pts]
        ys = [p.output_throughput_per_gpu for p in pts]
        color = COLORS[i % len(COLORS)]
        ax.plot(xs, ys, marker="o", color=color, label=name)
        for p, x, y in zip(pts, xs, ys, strict=True):
            ax.annotate(p.label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8, color=color)
        series.append({"sweep": name, "metric": "output_throughput_per_gpu", "x": xs, "y": ys,
                       "labels": [p.label for p in pts]})
    ax.set_xlabel("tokens/s per user (1000 / mean TPOT ms)")
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(loc="best", fontsize=8)
    title = _title(sweeps, "Throughput per GPU vs tokens/s per user (up and right is better)")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path, series, title)


def _latency(sweeps: Sequence[SweepSummary], axis: str, path: Path) -> Path:
    fig, series, title = latency_figure(sweeps, axis)
    return _save(fig, path, series, title)


def latency_figure(sweeps: Sequence[SweepSummary], axis: str) -> tuple[Any, list[dict[str, Any]], str]:
    """The latency chart as (figure, series, title), not yet saved."""
    fig, axs = _new_figure(2)
    series = []
    for ax, metric, label in ((axs[0], "ttft", "TTFT"), (axs[1], "itl", "ITL")):
        for i, name in enumerate(_names(sweeps)):
            color = COLORS[i % len(COLORS)]
            for pct, style in (("p50", "-"), ("p99", "--")):
                (s,) = _series([sweeps[i]], axis, f"{metric}_{pct}_ms")
                s["sweep"] = name
                ax.plot(s["x"], s["y"], marker="o", linestyle=style, color=color, label=f"{name} {pct}")
                series.append(s)
        ax.set_xlabel(AXIS_TITLES.get(axis, axis))
        ax.set_ylabel(f"{label} (ms)")
        ax.set_title(f"{label} p50 (solid) and p99 (dashed)", fontsize=10)
        _xscale(ax, [x for s in series for x in s["x"]])
        ax.set_ylim(bottom=0)
        _style_legend(ax)
    title = _title(sweeps, f"Latency vs {axis}")
    fig.suptitle(title, fontsize=9)
    return fig, series, title


def _style_legend(ax: Any) -> None:
    """A legend of the lines' colours and styles without their markers, on longer handles: the default
    handle is two font sizes long, and a marker in its middle covered the gaps of a dashed line, so p99
    (dashed in the plot) read as solid in the legend."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=line.get_color(), linestyle=line.get_linestyle(),
                      linewidth=line.get_linewidth(), label=line.get_label()) for line in ax.get_lines()]
    ax.legend(handles=handles, loc="best", fontsize=8, handlelength=LEGEND_HANDLE)


def _throughput(sweeps: Sequence[SweepSummary], axis: str, path: Path) -> Path:
    fig, axs = _new_figure(2)
    series = []
    for ax, metric, ylabel in ((axs[0], "request_throughput", "requests/s (completed)"),
                               (axs[1], "failed", "failed requests")):
        for i, name in enumerate(_names(sweeps)):
            (s,) = _series([sweeps[i]], axis, metric)
            s["sweep"] = name
            ax.plot(s["x"], s["y"], marker="o", color=COLORS[i % len(COLORS)], label=name)
            series.append(s)
        ax.set_xlabel(AXIS_TITLES.get(axis, axis))
        ax.set_ylabel(ylabel)
        _xscale(ax, [x for s in series for x in s["x"]])
        ax.set_ylim(bottom=0)
        ax.legend(loc="best", fontsize=8)
    axs[0].set_title("Request throughput", fontsize=10)
    axs[1].set_title("Failures", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    axs[1].yaxis.set_major_locator(MaxNLocator(integer=True))     # requests: whole numbers, 0..1 at least
    axs[1].set_ylim(0, max(1, *(y for s in series if s["metric"] == "failed" for y in s["y"])) * 1.1)
    title = _title(sweeps, f"Request throughput and failures vs {axis}")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path, series, title)


def best_within(points: Sequence[tuple[float | None, float | None]], budget: float, *,
                higher_is_better: bool) -> float | None:
    """The best `y` among the points whose latency figure `x` meets the budget (x >= budget when a higher
    x is better, as tokens/s per user; x <= budget otherwise, as TTFT), None when no point meets it.

    This is the sweep's measured frontier read at one latency: no interpolation, no extrapolation, and
    a concurrency that is worse on both axes never counts."""
    ok = [y for x, y in points if x is not None and y is not None
          and (x >= budget if higher_is_better else x <= budget)]
    return max(ok) if ok else None


def gains(sweeps: Sequence[SweepSummary], *, x: str, y: str, unit: str, higher_is_better: bool) -> list[Gain]:
    """Each later sweep's best `y` within the latency of each of the first sweep's points, against the
    first sweep's own best `y` within that latency (matched latency)."""
    names = _names(sweeps)
    base = [(getattr(p, x), getattr(p, y)) for p in sweeps[0].points]
    budgets = sorted({a for a, b in base if a is not None and b is not None}, reverse=higher_is_better)
    out = []
    for name, s in zip(names[1:], sweeps[1:], strict=True):
        curve = [(getattr(p, x), getattr(p, y)) for p in s.points]
        for at in budgets:
            value = best_within(curve, at, higher_is_better=higher_is_better)
            base_value = best_within(base, at, higher_is_better=higher_is_better)
            if value is not None and base_value is not None:
                bound = ">=" if higher_is_better else "<="
                out.append(Gain(sweep=name, matched=f"{bound} {at:.4g} {unit}", baseline=base_value, value=value))
    return out


# (latency figure, higher is better, throughput figure, unit, heading)
GAIN_TABLES = (("tokens_per_user", True, "output_throughput_per_gpu", "tok/s/user",
                "Output tokens/s per GPU at matched tokens/s per user (mean TPOT)"),
               ("ttft_p99_ms", False, "request_throughput", "ms p99 TTFT",
                "Request throughput at matched p99 TTFT"))


def _png_b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def plain_json(data: Any) -> Any:
    """`data` with infinite floats and NaN as strings, as pydantic writes them in the result files: strict
    JSON that any reader parses."""
    if isinstance(data, float):
        return data if math.isfinite(data) else ("NaN" if math.isnan(data) else ("Infinity" if data > 0 else
                                                                                   "-Infinity"))
    if isinstance(data, dict):
        return {k: plain_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [plain_json(v) for v in data]
    return data


def _json_for_script(data: Any) -> str:
    return json.dumps(plain_json(data), indent=1, allow_nan=False).replace("</", "<\\/")


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
td,th{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
.warn{color:#a40}code{background:#f3f3f3;padding:0 0.2em}"""

_COLUMNS = (("label", "point"), ("completed", "ok"), ("failed", "failed"), ("request_throughput", "req/s"),
            ("output_throughput", "out tok/s"), ("output_throughput_per_gpu", "tok/s/GPU"),
            ("tokens_per_user", "tok/s/user"), ("ttft_p50_ms", "TTFT p50 ms"), ("ttft_p99_ms", "TTFT p99 ms"),
            ("tpot_mean_ms", "TPOT mean ms"), ("itl_p50_ms", "ITL p50 ms"), ("itl_p99_ms", "ITL p99 ms"),
            ("e2el_p50_ms", "E2EL p50 ms"), ("result", "result file"))


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return html.escape(str(v))


def _points_table(s: SweepSummary) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in _COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(getattr(p, k))}</td>" for k, _ in _COLUMNS) + "</tr>"
                   for p in s.points)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _gains_html(sweeps: Sequence[SweepSummary]) -> tuple[str, list[dict[str, Any]]]:
    names = _names(sweeps)
    parts, data = [f"<h2>Gains over {html.escape(names[0])} at matched latency</h2>",
                   "<p>At each latency of the first sweep's points: the best figure each sweep measured "
                   "at that latency or better (no interpolation); a sweep that never got there has no "
                   "entry.</p>"], []
    for x, higher, y, unit, heading in GAIN_TABLES:
        rows = gains(sweeps, x=x, y=y, unit=unit, higher_is_better=higher)
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        if not rows:
            parts.append("<p>No overlap between the sweeps' measured ranges.</p>")
            continue
        parts.append("<table><tr><th class=l>sweep</th><th>at</th><th>baseline</th><th>this sweep</th>"
                     "<th>gain</th></tr>")
        for g in rows:
            parts.append(f"<tr><td class=l>{html.escape(g.sweep)}</td><td>{html.escape(g.matched)}</td>"
                         f"<td>{_cell(g.baseline)}</td><td>{_cell(g.value)}</td><td>{g.ratio - 1:+.1%}</td></tr>")
            data.append({"table": y, "sweep": g.sweep, "at": g.matched, "baseline": g.baseline, "value": g.value,
                         "ratio": g.ratio})
        parts.append("</table>")
    return "".join(parts), data


def gains_rows(sweeps: Sequence[SweepSummary]) -> list[tuple[str, str, Gain]]:
    """(table heading, y metric, gain) for every matched point: what `bench compare` prints."""
    return [(heading, y, g) for x, higher, y, unit, heading in GAIN_TABLES
            for g in gains(sweeps, x=x, y=y, unit=unit, higher_is_better=higher)]


def render_report(sweeps: Sequence[SweepSummary], folder: str | Path, *,
                  results: dict[str, Any] | None = None) -> ReportFiles:
    """Write pareto.png, latency.png, throughput.png and report.html into `folder`.

    `results` (result file name -> its JSON data) is embedded in the page next to the summaries."""
    if not sweeps:
        raise ReportError("no sweep to report")
    if not any(s.points for s in sweeps):
        raise ReportError("no sweep has a measured point")
    folder = make_dir(not_a_bundle(Path(folder)))
    axis = x_axis(sweeps)
    pngs = {"pareto": _pareto(sweeps, folder / "pareto.png"),
            "latency": _latency(sweeps, axis, folder / "latency.png"),
            "throughput": _throughput(sweeps, axis, folder / "throughput.png")}
    names = _names(sweeps)
    heading = (f"Sweep {html.escape(names[0])}" if len(sweeps) == 1
               else "Compare " + " vs ".join(html.escape(n) for n in names))
    body = [f"<h1>{heading}</h1>"]
    for name, s in zip(names, sweeps, strict=True):
        swept = ", ".join(f"{k} = {', '.join(f'{v:g}' for v in vs)}" for k, vs in s.axes.items())
        b = s.base
        model = html.escape(s.plan.model or b.model)
        body.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(s.plan.title)}<br>model "
                    f"<code>{model}</code>, {s.plan.gpus} GPUs; swept {html.escape(swept)}; "
                    f"{b.num_prompts} requests per point, {b.random_input_len} in / {b.random_output_len} out; "
                    f"{s.started_at:%Y-%m-%d %H:%M} UTC</p>")
        if s.stopped_early:
            body.append(f"<p class=warn>Stopped early: {html.escape(s.stopped_early)}; not run: "
                        f"{html.escape(', '.join(s.not_run))}</p>")
        body.append(_points_table(s))
    gains_data: list[dict[str, Any]] = []
    if len(sweeps) > 1:
        text, gains_data = _gains_html(sweeps)
        body.append(text)
    for key in CHARTS:
        body.append(f'<h2>{key}</h2><img alt="{key}" src="data:image/png;base64,{_png_b64(pngs[key])}">')
    data = {"kind": "pdcompose-report", "axis": axis, "names": names,
            "sweeps": [s.model_dump(mode="json") for s in sweeps], "gains": gains_data, "results": results or {}}
    body.append(f'<script type="application/json" id="pdcompose-data">\n{_json_for_script(data)}\n</script>')
    page = (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{heading}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = write_file(folder / HTML_FILE, page)
    return ReportFiles(folder=folder, pngs=pngs, html=path)


def not_a_bundle(folder: Path) -> Path:
    """Charts never land in (or among) a rendered bundle or manifests: those folders are replaced whole."""
    from pdcompose.render.writer import MARKER, written_by

    if (folder / MARKER).exists():
        raise ReportError(f"{folder} holds the output of `pdcompose {written_by(folder)}`; give the report "
                          "its own --result folder")
    return folder


def result_data(summary_dir: Path, summary: SweepSummary) -> dict[str, Any]:
    """The point result files of a sweep, as JSON data (without the per-request records), for the page."""
    out: dict[str, Any] = {}
    for p in summary.points:
        path = summary_dir / p.result
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            data.pop("requests", None)
            out[p.result] = data
    return out


def report_sweep(summary_dir: str | Path, out: str | Path | None = None) -> ReportFiles:
    """The report of one saved sweep, by default into `<sweep>/report/`."""
    given = Path(summary_dir)
    summary = SweepSummary.load(given)          # errors name the path the user gave, file or folder
    summary_dir = given.parent if given.is_file() else given
    return render_report([summary], out or summary_dir / "report", results=result_data(summary_dir, summary))


__all__ = ["AXES", "CHARTS", "Gain", "ReportError", "ReportFiles", "best_within", "gains", "gains_rows",
           "render_report", "report_sweep", "result_data"]
