"""`make e2e`, monitoring: a small PD deployment (1 prefill, 2 decodes, the router) rehearsed with
`monitoring:` on, driven through the CLI. Prometheus reports every target up; after a short bench, TTFT p99
by role has a value for prefill and decode; a killed decode's ApiServerDown alert fires within two scrape
intervals plus the rule's `for:`; `top` shows every node; `down` removes Prometheus too."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import run_cli
from tests.topologies import pd_topology

pytestmark = pytest.mark.e2e
CLUSTER = "e2e-mon"
FIRST = "127.0.4.10"                 # hosts p, d0, d1, r: 127.0.4.10-13; clear of other tests' addresses
PROMETHEUS = "http://127.0.4.13:9190"
SCRAPE, HOLD = 1.0, 3.0              # scrape_interval and the alerts' for:, short for the test
TOPOLOGY = pd_topology(CLUSTER, first=FIRST, decodes=[("d0",), ("d1",)], model="org/model",
                       image="vllm/vllm-openai:v0.13.0", rehearsal="load_delay: 1", extra=f"""\
monitoring:
  enabled: true
  port: 9190
  scrape_interval: {SCRAPE:g}s
  alert_for: {HOLD:g}s
  slo: {{ttft_p99: 5s, itl_p99: 1s}}
""")


def cli(folder: Path, *args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, cwd=folder, timeout=timeout)
    print(f"$ pdcompose {' '.join(args)}  -> {result.returncode}")
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def containers() -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.pdcompose.cluster={CLUSTER}"],
                         capture_output=True, text=True, timeout=60).stdout
    return out.split()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    subprocess.run([str(Path(__file__).resolve().parents[2] / "images" / "build.sh"), "mock", "router",
                    "prometheus"], check=True, capture_output=True, timeout=1800)
    folder = tmp_path_factory.mktemp("e2e-mon")
    (folder / "pdcompose.yaml").write_text(TOPOLOGY)
    yield folder
    run_cli("down", cwd=folder, timeout=300)
    for cid in containers():
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)


def query(expr: str) -> list[dict]:
    response = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["result"]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if predicate():
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s")


def router_rate(pane: str) -> float | None:
    """The router row's req/s column in a captured `top` pane."""
    for line in pane.splitlines():
        fields = line.split()
        if fields[:1] == ["router"] and len(fields) >= 9:
            try:
                return float(fields[8])
            except ValueError:
                return None
    return None


def watch_top_in_tmux(folder: Path) -> None:
    """`pdcompose top` in a real terminal (tmux): every instance's row, and a request rate that changes
    while a bench runs and after it ends."""
    session = f"pdcompose-top-{CLUSTER}"
    command = (f"cd {shlex.quote(str(folder))} && env -u COLUMNS -u LINES {shlex.quote(sys.executable)} -m pdcompose "
               "top -d 1")   # rich sizes the table to the pane
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "30", command], check=True)
    panes: list[str] = []

    def capture() -> str:
        pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                              check=True).stdout
        panes.append(pane)
        return pane
    try:
        wait_for(lambda: "decode-1/0" in capture() and router_rate(panes[-1]) is not None, timeout=30)
        bench = subprocess.Popen([sys.executable, "-m", "pdcompose", "bench", "-n", "400", "--max-concurrency", "4",
                                  "--input-len",
                                  "64", "--output-len", "16"], cwd=folder, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: (router_rate(capture()) or 0) > 1, timeout=60)
            busy = panes[-1]
        finally:
            bench.wait(timeout=300)
        wait_for(lambda: (router_rate(capture()) or 0) < (router_rate(busy) or 0) / 2, timeout=60)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    print("pdcompose top under load, in tmux:\n" + busy.rstrip() + "\nafter the bench:\n" + panes[-1].rstrip())
    for row in ("prefill-0/0", "decode-0/0", "decode-1/0", "router"):
        assert row in busy
    assert "from prometheus" in busy and "DOWN" not in busy
    assert router_rate(busy) != router_rate(panes[-1])


def test_monitoring_rehearsed(folder: Path):
    assert containers() == []
    cli(folder, "deploy", timeout=600)

    # every target up: three API servers and the router, labelled from the plan
    def all_up() -> bool:
        targets = httpx.get(f"{PROMETHEUS}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return len(targets) == 4 and all(t["health"] == "up" for t in targets)
    wait_for(all_up, timeout=30)
    targets = httpx.get(f"{PROMETHEUS}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    assert sorted((t["labels"]["role"], t["labels"]["instance"], t["labels"]["host"]) for t in targets) == [
        ("decode", "decode-0", "d0"), ("decode", "decode-1", "d1"), ("prefill", "prefill-0", "p"),
        ("router", "router", "r")]

    status = json.loads(cli(folder, "status", "--json").stdout)        # Prometheus counts as healthy
    assert status["status"] == "ok" and "prometheus" in {c["service"] for c in status["containers"]}

    bench = json.loads(cli(folder, "bench", "-n", "60", "--max-concurrency", "8",
                           "--input-len", "64", "--output-len", "16",
                           "--json").stdout)
    assert bench["metrics"]["completed"] == 60 and bench["metrics"]["failed"] == 0

    # TTFT p99 by role, recorded by the rendered rules, for prefill and decode
    def ttft_by_role() -> bool:
        roles = {r["metric"]["role"] for r in query("cluster_role:ttft_seconds:p99") if r["value"][1] != "NaN"}
        return {"prefill", "decode"} <= roles
    took = wait_for(ttft_by_role, timeout=30)
    print(f"TTFT p99 by role recorded {took:.1f} s after the bench: {query('cluster_role:ttft_seconds:p99')}")
    assert query('sum(vllm_router_pd_requests_total{job="vllm-router"})')[0]["value"][1] != "0"

    # every query of the rendered Grafana dashboard is PromQL this Prometheus accepts, and the panels on
    # prefill TTFT and decode ITL have data
    board = json.loads(next((folder / "out-rehearsal" / "r" / "grafana" / "dashboards").glob("*.json")).read_text())
    answered = {}
    for panel in (p for p in board["panels"] if p["type"] != "row"):
        for target in panel["targets"]:
            expr = (target["expr"].replace("$__rate_interval", "1m").replace("$cluster", CLUSTER)
                    .replace("$instance", ".*"))
            answered[panel["title"]] = answered.get(panel["title"], 0) + len(query(expr))
    assert answered["TTFT (prefill)"] > 0 and answered["Inter-token latency (decode)"] > 0, answered

    top = json.loads(cli(folder, "top", "--once", "--json").stdout)
    assert top["source"] == "prometheus"
    assert {(r["instance"], r["up"]) for r in top["rows"]} == {
        ("prefill-0", True), ("decode-0", True), ("decode-1", True), ("router", True)}

    watch_top_in_tmux(folder)

    # a decode dies: its ApiServerDown alert fires within two scrape intervals plus `for:`
    killed = time.monotonic()
    subprocess.run(["docker", "kill", f"{CLUSTER}-d1-decode-1-node-0-1"], check=True, capture_output=True)

    polls = [killed]

    def firing() -> bool:
        try:
            alerts = httpx.get(f"{PROMETHEUS}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        finally:
            polls.append(time.monotonic())
        return any(a["labels"]["alertname"] == "PdcomposeApiServerDown" and a["state"] == "firing"
                   and a["labels"]["instance"] == "decode-1" for a in alerts)
    wait_for(firing, timeout=60, interval=0.1)
    took = time.monotonic() - killed
    # How late this test can see it: its longest poll (a `docker kill`, then API round trips), 0.1 s idle,
    # seconds on a loaded machine. Prometheus's own timers are the bound; 0.5 s for its evaluation tick.
    resolution = max(b - a for a, b in zip(polls, polls[1:], strict=False))
    print(f"PdcomposeApiServerDown fired {took:.1f} s after the decode was killed "
          f"(bound: 2 x {SCRAPE:g} s scrape + {HOLD:g} s for + 0.5 s + polls up to {resolution:.1f} s apart)")
    assert took <= 2 * SCRAPE + HOLD + 0.5 + resolution
    alerts = httpx.get(f"{PROMETHEUS}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    assert not any(a["labels"]["alertname"] == "PdcomposeApiServerDown" and a["labels"]["instance"] != "decode-1"
                   for a in alerts)

    cli(folder, "down")
    assert containers() == []
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{PROMETHEUS}/-/ready", timeout=2)
