"""Sweeps against a rehearsal (real vllm-router, mock vLLM containers), through the CLI as a user types it:
a 3-point sweep and its report, a second sweep compared with it, and pdcompose's figures against those of
`vllm bench serve` (vLLM 0.13.0's own client) at one point.

The mock's simulated costs (200 ms per 1k prompt tokens, 20 ms per generated token) dominate the
latencies, so that both clients measure the simulation rather than the load of a shared 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from pdcompose.bench import BenchConfig, BenchResult
from pdcompose.bench.charts import CHARTS, SERIES_KEY
from pdcompose.bench.vllm_cmd import vllm_bench_argv
from pdcompose.bench.workload import WORDS
from tests.faults.conftest import leftover_containers
from tests.figures import LINES
from tests.helpers import REPO, run_cli
from tests.topologies import pd_topology

pytestmark = pytest.mark.docker
CLUSTER = "bench-sweep"
ROUTER_HOST, ROUTER_PORT = "127.0.8.12", 8123
TOPOLOGY = pd_topology(CLUSTER, first="127.0.8.10", model="sweep/model",
                       rehearsal="load_delay: 0.5, prefill_ms_per_1k: 200, decode_ms_per_token: 20")
WORKLOAD = ("-n", "32", "--input-len", "128", "--output-len", "16")


def cli(folder: Path, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, cwd=folder, timeout=timeout)
    print(f"$ pdcompose {' '.join(map(str, args))}  -> {result.returncode}\n{result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """The rehearsed 1P1D cluster, deployed through the CLI; torn down after the module."""
    build = subprocess.run([str(REPO / "images" / "build.sh"), "mock", "router"], cwd=REPO,
                           env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "pdcompose.yaml").write_text(TOPOLOGY)
    try:
        deployed = cli(folder, "deploy")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield folder
    finally:
        run_cli("down", cwd=folder, timeout=300)
        for cid in leftover_containers(CLUSTER):
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)


def png(path: Path) -> list[dict]:
    """The series drawn (from the PNG's own metadata), after checking that the image opens and is not blank."""
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG" and img.width >= 600 and img.height >= 400
        assert ImageStat.Stat(img.convert("L")).stddev[0] > 10, f"{path} looks blank"
        assert f"{CLUSTER} @ " in img.info["Title"] and "1P x 1 node TP1/DP1, 1D x 1 node TP1/DP1" in img.info["Title"]
        assert "vLLM 0.13.0" in img.info["Title"]
        return json.loads(img.info[SERIES_KEY])


def embedded(html: Path) -> dict:
    m = re.search(r'<script type="application/json" id="pdcompose-data">\n(.*)\n</script>', html.read_text(), re.S)
    assert m, f"{html}: no embedded data"
    return json.loads(m.group(1))


def test_sweep_report_and_compare(stack: Path) -> None:
    first = cli(stack, "bench", "--sweep", "concurrency=1,4,16", *WORKLOAD, "--result", "first", "--name", "first",
                "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    doc = json.loads(first.stdout)
    assert doc["status"] == "ok" and not doc["stopped_early"] and doc["report"]
    assert [p["label"] for p in doc["points"]] == ["c=1", "c=4", "c=16"]
    assert "\x1b[" not in first.stderr and "req/s" not in first.stderr      # no live progress when piped

    folder = stack / "first"
    results = {p["result"]: BenchResult.load(folder / p["result"]) for p in doc["points"]}
    fingerprints = {r.fingerprint for r in results.values()}
    assert len(fingerprints) == 1 and all(r.metrics.failed == 0 and r.metrics.completed == 32
                                          for r in results.values())
    assert [r.config.max_concurrency for r in results.values()] == [1, 4, 16]
    # more requests in flight: more requests per second (the mock's costs are per request)
    tput = [r.metrics.request_throughput for r in results.values()]
    assert tput[0] < tput[1] < tput[2]

    report = folder / "report"
    for chart in CHARTS:
        series = png(report / f"{chart}.png")
        assert {s["sweep"] for s in series} == {"first"} and all(len(s["x"]) == 3 for s in series)
    data = embedded(report / "report.html")
    assert data["sweeps"][0]["plan"]["fingerprint"] in fingerprints
    for p in data["sweeps"][0]["points"]:          # every point of every result file, as measured
        r = results[p["result"]]
        assert (p["completed"], p["request_throughput"], p["ttft_p99_ms"], p["itl_p50_ms"]) == (
            r.metrics.completed, r.metrics.request_throughput, r.metrics.ttft.p99_ms, r.metrics.itl.median_ms)
        assert data["results"][p["result"]]["metrics"] == r.metrics.model_dump(mode="json")
    assert (report / "report.html").read_text().count("data:image/png;base64,") == 3

    second = cli(stack, "bench", "--sweep", "c=2,8", *WORKLOAD, "--result", "second", "--name", "second",
                 "--no-report", "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert not (stack / "second" / "report").exists()
    compared = cli(stack, "bench", "compare", "first", "second", "--result", "cmp", "--json")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    for chart in CHARTS:
        series = png(stack / "cmp" / f"{chart}.png")
        assert {s["sweep"] for s in series} == {"first", "second"}
    data = embedded(stack / "cmp" / "report.html")
    assert data["names"] == ["first", "second"] and [len(s["points"]) for s in data["sweeps"]] == [3, 2]
    LINES.append(f"[bench] rehearsed sweep c=1,4,16: {tput[0]:.1f} / {tput[1]:.1f} / {tput[2]:.1f} req/s, "
                 "3 PNGs and the HTML page checked; compare of 2 sweeps on shared charts")


# Runs in vLLM 0.13.0's venv: vLLM is imported once, then each round runs pdcompose's bench (a subprocess,
# the CLI as a user types it) and right after it vLLM's own `vllm bench serve` (its `main`, same arguments),
# so that the two clients of a round see the same load on a shared machine.
DRIVER = """\
import json, subprocess, sys
from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser
spec = json.loads(sys.argv[1])
parser = FlexibleArgumentParser()
add_cli_args(parser)
args = parser.parse_args(spec["vllm_args"])
rounds = []
for i in range(spec["rounds"]):
    ours = spec["ours"] + ["--result", f"{spec['dir']}/ours-{i}.json"]
    ran = subprocess.run(ours, cwd=spec["dir"], env=spec["ours_env"], capture_output=True, text=True, timeout=600)
    if ran.returncode != 0:
        sys.exit(f"pdcompose bench failed: {ran.stdout[-2000:]} {ran.stderr[-2000:]}")
    rounds.append({k: v for k, v in main(args).items() if not isinstance(v, list)})
json.dump(rounds, open(spec["out"], "w"))
"""
TOKENIZER = """\
import json, sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(json.loads(sys.argv[2]))}}
t = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
PreTrainedTokenizerFast(tokenizer_object=t, unk_token="[UNK]", model_max_length=1 << 20).save_pretrained(sys.argv[1])
"""
ROUNDS = 3


def interleaved(folder: Path, cfg: BenchConfig, ours: list[str]) -> tuple[list[BenchResult], list[dict]]:
    """ROUNDS rounds of (pdcompose bench, then vllm bench serve with the command pdcompose prints), with a
    word-level tokenizer over the words of pdcompose's prompts, so that a token is a word for both clients
    and for the mock."""
    from tests.vllm.conftest import vllm_env, vllm_python

    python = vllm_python("0.13.0")
    env = vllm_env() | {"TMPDIR": str(folder), "HF_HOME": str(folder / "hf"), "VLLM_CACHE_ROOT": str(folder / "vc")}
    tok = folder / "tokenizer"
    made = subprocess.run([str(python), "-c", TOKENIZER, str(tok), json.dumps(list(WORDS))], env=env,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    vllm_args = vllm_bench_argv(cfg)[3:] + ["--tokenizer", str(tok), "--disable-tqdm"]
    spec = {"vllm_args": vllm_args, "rounds": ROUNDS, "dir": str(folder), "out": str(folder / "vllm.json"),
            "ours": [sys.executable, "-m", "pdcompose", *ours], "ours_env": {**os.environ, "COLUMNS": "200"}}
    ran = subprocess.run([str(python), "-c", DRIVER, json.dumps(spec)], env=env, capture_output=True, text=True,
                         timeout=1200)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    return ([BenchResult.load(folder / f"ours-{i}.json") for i in range(ROUNDS)],
            json.loads((folder / "vllm.json").read_text()))


PAIRS = {"request throughput": ("request_throughput", lambda m: m.request_throughput),
         "mean TTFT": ("mean_ttft_ms", lambda m: m.ttft.mean_ms),
         "mean TPOT": ("mean_tpot_ms", lambda m: m.tpot.mean_ms),
         "mean ITL": ("mean_itl_ms", lambda m: m.itl.mean_ms)}
# The machine's load, judged by what neither client measures: the kernel's CPU pressure (the share of time
# some runnable task waited for a CPU, /proc/pressure/cpu), or the load average per CPU where there is no PSI.
# It only decides when to measure (wait for a quiet machine; measure again after a disagreement under
# load): the outcome is strict, a disagreement fails and a failed request is never excused.
ATTEMPTS = 2
QUIET = 0.25                   # at most a quarter of the time with a task waiting for a CPU
QUIET_WAIT_S = 180             # how long to wait for a quiet machine before measuring anyway


def cpu_stall_s() -> float | None:
    """Seconds that some runnable task waited for a CPU since boot (`some total`, in µs), or None without PSI."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None
    return int(first.rsplit("total=", 1)[1]) / 1e6


class LoadMeter:
    """The machine's CPU pressure (0..1) since the meter was made; the 1-minute load average per CPU without PSI."""

    def __init__(self) -> None:
        self.stall, self.t0 = cpu_stall_s(), time.monotonic()

    def share(self) -> float:
        now = cpu_stall_s()
        if self.stall is None or now is None:
            return os.getloadavg()[0] / (os.cpu_count() or 1)
        return (now - self.stall) / max(time.monotonic() - self.t0, 1e-3)


def machine_load(seconds: float = 5.0) -> float:
    meter = LoadMeter()
    time.sleep(seconds)
    return meter.share()


def wait_for_quiet() -> float:
    deadline = time.monotonic() + QUIET_WAIT_S
    while (load := machine_load()) > QUIET and time.monotonic() < deadline:
        pass
    return load


def compare_rounds(mine: list[BenchResult], theirs: list[dict]) -> tuple[list[str], list[str]]:
    """(one line per metric, the metrics more than 10% apart), medians over the rounds."""
    lines, off = [], []
    for name, (key, get) in PAIRS.items():
        a = statistics.median(get(r.metrics) for r in mine)
        b = statistics.median(t[key] for t in theirs)
        lines.append(f"{name} {a:.2f} vs {b:.2f} ({a / b - 1:+.1%})")
        if abs(a / b - 1) > 0.10:
            off.append(name)
    for r, t in zip(mine, theirs, strict=True):
        print(f"round: pdcompose {r.metrics.request_throughput:.2f} req/s, TTFT {r.metrics.ttft.mean_ms:.1f} ms, "
              f"TPOT {r.metrics.tpot.mean_ms:.2f} ms | vllm {t['request_throughput']:.2f} req/s, TTFT "
              f"{t['mean_ttft_ms']:.1f} ms, TPOT {t['mean_tpot_ms']:.2f} ms, {t['failed']} failed")
    return lines, off


@pytest.mark.vllm
def test_figures_agree_with_vllm_bench_serve(stack: Path) -> None:
    n, c, isl, osl = 64, 8, 512, 32       # TTFT: ~100 ms of simulated prefill, ITL: 20 ms per token
    ours_args = ["bench", "-n", str(n), "--max-concurrency", str(c), "--input-len", str(isl), "--output-len", str(osl),
                 "--no-verify-pairing", "--json"]
    cfg = BenchConfig(base_url=f"http://{ROUTER_HOST}:{ROUTER_PORT}", model="sweep/model", num_prompts=n,
                      max_concurrency=c, random_input_len=isl, random_output_len=osl)
    for attempt in range(1, ATTEMPTS + 1):
        before = wait_for_quiet()
        meter = LoadMeter()
        mine, theirs = interleaved(stack, cfg, ours_args)
        during = meter.share()
        assert all(r.config == cfg for r in mine)
        assert [r.metrics.failed for r in mine] == [0] * ROUNDS, "pdcompose bench: failed requests"
        assert [t["failed"] for t in theirs] == [0] * ROUNDS, "vllm bench serve: failed requests"
        for t in theirs:
            assert t["total_input_tokens"] == t["completed"] * isl     # a token is a word for both clients
        lines, off = compare_rounds(mine, theirs)
        load = f"CPU pressure {before:.0%} before, {during:.0%} during the rounds"
        print(f"attempt {attempt}: pdcompose vs vllm bench serve (medians of {ROUNDS} interleaved rounds): "
              + "; ".join(lines) + f"; {load}")
        if not off or during <= QUIET:      # agreement, or a disagreement on a quiet machine: final
            break
    assert not off, f"more than 10% apart: {', '.join(off)} ({'; '.join(lines)}; {load})"
    LINES.append(f"[bench] pdcompose bench vs vllm bench serve 0.13.0 through the rehearsed router (c={c}, {n} x "
                 f"{isl}/{osl}, medians of {ROUNDS} interleaved rounds): " + "; ".join(lines))
