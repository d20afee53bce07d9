"""Sweeps and their reports without a cluster: parsing, early stop, summaries, charts, the HTML page,
`bench compare`, and the live progress line (on a terminal only)."""

from __future__ import annotations

import io
import json
import math
import re
from array import array
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from rich.console import Console

from pdcompose import topology
from pdcompose.bench import BenchConfig, BenchResult, Progress
from pdcompose.bench.charts import CHARTS, SERIES_KEY, best_within, gains, render_report, report_sweep
from pdcompose.bench.stats import RequestOutcome, compute_metrics
from pdcompose.bench.sweep import PlanInfo, SweepError, SweepSummary, describe_plan, parse_sweep, run_sweep
from pdcompose.cli.progress import LiveReporter, reporter
from pdcompose.plan import build_plan
from tests.helpers import EXAMPLE, run_cli

BASE = BenchConfig(base_url="http://127.0.0.1:1", model="m", num_prompts=20, random_input_len=32,
                   random_output_len=6)
PLAN = PlanInfo(cluster="demo", fingerprint="abc123def456", model="m", gpus=2, vllm_version="0.13.0",
                topology="1P x 1 node TP1/DP1, 1D x 1 node TP1/DP1")


def fake_runner(scale: float = 1.0, fail_from: int = 10**9):
    """A point runner whose latencies grow with concurrency; points at or past `fail_from` lose half."""
    def run_point(cfg: BenchConfig, label: str) -> BenchResult:
        c = cfg.max_concurrency or 1
        outs = []
        for i in range(cfg.num_prompts):
            ok = not (c >= fail_from and i % 2)
            outs.append(RequestOutcome(index=i, traceparent=f"00-{i:032x}-{i:016x}-01", prompt_len=32, success=ok,
                                       status=200 if ok else 500, ttft=0.01 * c * scale * (1 + i / 40),
                                       latency=0.01 * c * scale + 0.01 * c,
                                       itl=array("d", [0.002 * c * (1 + i / 20)] * 5),
                                       output_tokens=6 if ok else 0, usage_reported=ok, error="" if ok else "HTTP 500"))
        now = datetime.now(UTC)
        return BenchResult.build(config=cfg, metrics=compute_metrics(outs, 0.5 * c / scale / max(c, 1) * 4),
                                 outcomes=outs, started_at=now, finished_at=now, fingerprint=PLAN.fingerprint,
                                 labels={"sweep_point": label})
    return run_point


def sweep(tmp_path: Path, name: str, spec: str = "concurrency=1,4,16", **kw) -> SweepSummary:
    return run_sweep(BASE, parse_sweep([spec]), plan=PLAN, out_dir=tmp_path / name, name=name,
                     run_point=kw.pop("runner", fake_runner()), **kw)


def test_parse_sweep_axes_aliases_and_grid() -> None:
    assert parse_sweep(["concurrency=1,4,16"]) == [{"concurrency": 1}, {"concurrency": 4}, {"concurrency": 16}]
    assert parse_sweep(["c=2", "output-len=8,16"]) == [{"concurrency": 2, "output_len": 8},
                                                       {"concurrency": 2, "output_len": 16}]
    assert parse_sweep(["rate=0.5,inf"]) == [{"rate": 0.5}, {"rate": math.inf}]
    for bad, words in (("concurrency", "AXIS=V1"), ("speed=1", "AXIS=V1"), ("concurrency=0", "positive integer"),
                       ("c=1,x", "'x' is not"), ("c=2,2", "twice"), ("rate=-1", "positive number")):
        with pytest.raises(SweepError, match=words):
            parse_sweep([bad])
    with pytest.raises(SweepError, match="axis concurrency is given twice"):
        parse_sweep(["c=1", "concurrency=2"])


def test_describe_plan_of_the_guide() -> None:
    info = describe_plan(build_plan(topology.load(EXAMPLE))[0])
    assert info.topology == "2P x 2 nodes TP1/DP8, 1D x 2 nodes TP1/DP8"
    assert (info.gpus, info.vllm_version, info.rehearsal) == (24, "0.13.0", False)
    assert info.title.startswith(f"dsr1-gb200 @ {info.fingerprint} | 2P x 2 nodes") and "vLLM 0.13.0" in info.title


def test_a_result_file_per_point_then_the_summary(tmp_path: Path) -> None:
    s = sweep(tmp_path, "a")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["1-c1.json", "2-c4.json", "3-c16.json", "summary.json"]
    assert SweepSummary.load(tmp_path / "a") == s == SweepSummary.load(tmp_path / "a" / "summary.json")
    for p in s.points:
        r = BenchResult.load(tmp_path / "a" / p.result)
        assert r.fingerprint == PLAN.fingerprint == p.fingerprint and r.config.max_concurrency == p.concurrency
        assert p.output_throughput_per_gpu == pytest.approx(r.metrics.output_throughput / 2)
        assert p.tokens_per_user == pytest.approx(1000 / r.metrics.tpot.mean_ms)
        assert p.ttft_p99_ms == r.metrics.ttft.p99_ms and p.itl_p50_ms == r.metrics.itl.median_ms
    assert s.axes == {"concurrency": [1.0, 4.0, 16.0]} and not s.stopped_early and s.not_run == []


def test_stops_early_past_the_failure_bound_and_says_so(tmp_path: Path) -> None:
    s = sweep(tmp_path, "b", "c=1,4,16,64", runner=fake_runner(fail_from=4), max_failure_rate=0.1)
    assert [p.label for p in s.points] == ["c=1", "c=4"] and s.not_run == ["c=16", "c=64"]
    assert s.points[1].failure_rate == 0.5
    assert s.stopped_early == "stopped after c=4: failure rate 50.0% > --max-failure-rate 10.0%"
    assert SweepSummary.load(tmp_path / "b").stopped_early == s.stopped_early
    # failures at the last point stop nothing
    assert not sweep(tmp_path, "c", "c=1,4", runner=fake_runner(fail_from=4), max_failure_rate=0.1).stopped_early


def png_ok(path: Path) -> dict:
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG" and img.width >= 600 and img.height >= 400
        stddev = ImageStat.Stat(img.convert("L")).stddev[0]
        assert stddev > 10, f"{path.name} looks blank (stddev {stddev:.1f})"
        return {"series": json.loads(img.info[SERIES_KEY]), "title": img.info["Title"]}


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="pdcompose-data">\n(.*)\n</script>', html, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


def test_report_of_one_sweep(tmp_path: Path) -> None:
    s = sweep(tmp_path, "a")
    files = report_sweep(tmp_path / "a")
    assert files.folder == tmp_path / "a" / "report" and set(files.pngs) == set(CHARTS)
    for key, path in files.pngs.items():
        info = png_ok(path)
        assert PLAN.title in info["title"], key
        assert {x["sweep"] for x in info["series"]} == {"a"}
    latency = png_ok(files.pngs["latency"])["series"]
    assert {x["metric"] for x in latency} == {"ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms"}
    assert next(x for x in latency if x["metric"] == "ttft_p99_ms")["y"] == [p.ttft_p99_ms for p in s.points]
    html = files.html.read_text()
    assert html.count('src="data:image/png;base64,') == 3 and "<link" not in html and "http" not in html.split(
        "<script")[0].replace("http://127.0.0.1:1", "")
    data = page_data(html)
    assert data["sweeps"][0]["points"] == json.loads(s.model_dump_json())["points"]
    for p in s.points:        # the result files' own metrics, embedded
        saved = json.loads((tmp_path / "a" / p.result).read_text())
        assert data["results"][p.result]["metrics"] == saved["metrics"]


def test_compare_puts_every_sweep_on_each_chart_with_gains(tmp_path: Path) -> None:
    a, b = sweep(tmp_path, "a"), sweep(tmp_path, "b", runner=fake_runner(scale=0.5))
    files = render_report([a, b], tmp_path / "cmp")
    for path in files.pngs.values():
        assert {x["sweep"] for x in png_ok(path)["series"]} == {"a", "b"}
    data = page_data(files.html.read_text())
    assert data["names"] == ["a", "b"] and len(data["sweeps"]) == 2 and data["gains"]
    per_gpu = [g for g in data["gains"] if g["table"] == "output_throughput_per_gpu"]
    assert per_gpu and all(g["sweep"] == "b" for g in per_gpu)


def test_matched_latency_reads_the_measured_frontier(tmp_path: Path) -> None:
    pts = [(10, 100), (20, 300), (30, 200), (40, 400)]         # (p99 TTFT ms, req/s); 30 ms is dominated
    assert [best_within(pts, b, higher_is_better=False) for b in (5, 10, 25, 35, 99)] == [None, 100, 300, 300, 400]
    per_user = [(50, 10), (40, 30), (45, 20)]                  # (tok/s/user, tok/s/GPU)
    assert [best_within(per_user, b, higher_is_better=True) for b in (60, 50, 45, 1)] == [None, 10, 20, 30]
    a, b = sweep(tmp_path, "a"), sweep(tmp_path, "b", runner=fake_runner(scale=0.5))
    rows = gains([a, b], x="ttft_p99_ms", y="request_throughput", unit="ms", higher_is_better=False)
    assert rows and {g.sweep for g in rows} == {"b"} and all(g.matched.startswith("<= ") for g in rows)
    # b: half a's TTFT and half its request rate at every point; within every budget a met, b does half
    assert [g.ratio for g in rows] == pytest.approx([0.5] * 3)


def test_cli_compare_and_report(tmp_path: Path) -> None:
    sweep(tmp_path, "a"), sweep(tmp_path, "b", runner=fake_runner(scale=0.5))
    out = run_cli("bench", "compare", tmp_path / "a", tmp_path / "b" / "summary.json", "--result", tmp_path / "cmp",
                  "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["report"] == str(tmp_path / "cmp" / "report.html") and set(doc["pngs"]) == set(CHARTS)
    assert doc["gains"] and {g["sweep"] for g in doc["gains"]} == {"b"}
    text = run_cli("bench", "compare", tmp_path / "a", tmp_path / "b", "--result", tmp_path / "cmp2", cwd=tmp_path)
    assert text.returncode == 0 and "Gains over a at matched latency" in text.stdout
    one = run_cli("bench", "compare", tmp_path / "a", cwd=tmp_path)
    assert one.returncode == 1 and "at least two sweeps" in one.stderr
    missing = run_cli("bench", "report", tmp_path / "nope", cwd=tmp_path)
    assert missing.returncode == 1 and "cannot read the sweep summary" in missing.stderr
    again = run_cli("bench", "report", tmp_path / "a", "--result", tmp_path / "again", cwd=tmp_path)
    assert again.returncode == 0 and (tmp_path / "again" / "report.html").is_file()


def test_progress_is_live_on_a_terminal_and_silent_when_piped() -> None:
    piped = io.StringIO()
    with reporter("c=4", Console(file=piped, force_terminal=False)) as lines:
        for i in range(1, 11):
            lines.requests(Progress(i, 0, 10, i * 16))
    assert piped.getvalue() == "" and not isinstance(lines, LiveReporter)
    tty = io.StringIO()
    with reporter("c=4", Console(file=tty, force_terminal=True, width=120)) as live:
        assert isinstance(live, LiveReporter)
        live.MIN_INTERVAL = 0
        for i in range(1, 11):
            live.requests(Progress(i, i // 5, 10, i * 16))
    shown = tty.getvalue()
    assert "c=4" in shown and "10/10" in shown and "2 failed" in shown and "req/s" in shown


def test_rates_are_over_a_recent_window() -> None:
    live = LiveReporter(Console(file=io.StringIO()), "x")
    live._window.clear()
    live._window.append((0.0, 0, 0))
    assert live.rates(1.0, 10, 100) == (10.0, 100.0)
    live.rates(6.0, 60, 600)
    rps, tps = live.rates(11.0, 160, 1600)          # the first second has left the 5 s window
    assert rps == pytest.approx((160 - 60) / 5) and tps == pytest.approx((1600 - 600) / 5)
