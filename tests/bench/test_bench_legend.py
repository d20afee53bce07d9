"""Issue 24: the latency chart's legend shows p99 dashed, as the plot draws it. The handles always had
the dashed style, but a marker in the middle of the default two-font-size handle covered its gaps, so
p99 read as solid: legend lines carry no marker and are long enough for two dash periods each side."""

from __future__ import annotations

from pathlib import Path

from matplotlib import rcParams

from pdcompose.bench.charts import latency_figure
from tests.bench.test_bench_sweep import fake_runner, sweep

NO_MARKER = (None, "None", "", " ")


def test_the_legend_draws_each_line_as_the_plot_does(tmp_path: Path) -> None:
    a, b = sweep(tmp_path, "a"), sweep(tmp_path, "b", runner=fake_runner(scale=0.5))
    fig, _, _ = latency_figure([a, b], "concurrency")
    for ax in fig.axes:
        legend = ax.get_legend()
        drawn = {line.get_label(): line for line in ax.get_lines()}
        shown = {text.get_text(): handle for text, handle in zip(legend.get_texts(), legend.legend_handles,
                                                                 strict=True)}
        assert set(shown) == set(drawn) == {f"{s} {p}" for s in ("a", "b") for p in ("p50", "p99")}
        for label, handle in shown.items():
            assert handle.get_linestyle() == drawn[label].get_linestyle() == ("--" if "p99" in label else "-")
            assert handle.get_color() == drawn[label].get_color()
            assert handle.get_marker() in NO_MARKER, label
        on, off = rcParams["lines.dashed_pattern"]
        period = (on + off) * max(h.get_linewidth() for h in shown.values())      # dashes scale with the width
        assert legend.handlelength * legend.prop.get_size_in_points() >= 4 * period
