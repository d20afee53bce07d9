"""Benchmarks that run a rehearsed stack (real router, mock workers) on the local engine.

- router throughput (issue 3): 4 mocks behind the router, 2,000 streamed requests at concurrency 256,
  with the mock's simulated costs and with them at zero (the stack's own overhead);
- deploy to a ready router (issue 4): pdcompose against the guide done by hand, serially (each
  instance's hosts started one after the other and waited for, then the router);
- load held (issue 6): the guide's 4 prefill + 2 decode nodes at concurrency 512 for 5,000 requests,
  every request checked to reach exactly one prefill and one decode.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import PDCOMPOSE, REPO, Figure, median

ENV = {"HF_TOKEN": "bench-placeholder"}


def pdc(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PDCOMPOSE, *args], cwd=folder, env={**os.environ, **ENV}, capture_output=True,
                            text=True, timeout=900)
    if check and result.returncode != 0:
        raise RuntimeError(f"pdcompose {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def stack(topology_text: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="pdc-bench-"))
    (folder / "pdcompose.yaml").write_text(topology_text)
    return folder


def bench(folder: Path, *args: str) -> dict:
    return json.loads(pdc(folder, "bench", "--json", *args, check=False).stdout)


def router_throughput() -> list[Figure]:
    figures = []
    base = (REPO / "benchmarks/topologies/four-mocks.yaml").read_text()
    for label, costs in (("simulated costs", ""), ("zero costs", "  prefill_ms_per_1k: 0\n  decode_ms_per_token: 0\n")):
        folder = stack(base + costs)
        try:
            pdc(folder, "deploy")
            pdc(folder, "bench", "-n", "200", "-c", "64", "--input-len", "128", "--output-len", "32")  # warm-up
            result = bench(folder, "-n", "2000", "-c", "256", "--input-len", "128", "--output-len", "32")
        finally:
            pdc(folder, "down", check=False)
        m = result["metrics"]
        ok = m["failed"] == 0 and result["pairing"]["ok"]
        section = f"router + 4 mocks, 2000 streamed @ 256 ({label})"
        figures += [Figure(section, "failed requests", m["failed"], "", "0", m["failed"] == 0),
                    Figure(section, "P->D pairing", f"{result['pairing']['paired']}/{result['pairing']['checked']}",
                           "", "all", ok),
                    Figure(section, "requests/s", round(m["request_throughput"], 1), "req/s"),
                    Figure(section, "p50 end-to-end", round(m["e2el"]["median_ms"], 1), "ms"),
                    Figure(section, "p99 end-to-end", round(m["e2el"]["p99_ms"], 1), "ms"),
                    Figure(section, "p50 TTFT", round(m["ttft"]["median_ms"], 1), "ms")]
    return figures


def guide_text(load_delay: float, first: str) -> str:
    text = (REPO / "examples/deepseek-r1-gb200.yaml").read_text().replace("name: dsr1-gb200", "name: bench-guide")
    return text + f"\nrehearsal:\n  enabled: true\n  first_address: {first}\n  load_delay: {load_delay}\n"


def deploy_vs_serial(runs: int = 3, load_delay: float = 20.0) -> list[Figure]:
    folder = stack(guide_text(load_delay, "127.0.4.10"))
    ours, serial, slowest, gate, gate_router = [], [], [], [], []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            report = json.loads(pdc(folder, "deploy", "--json", "--no-smoke").stdout)
            ours.append(time.perf_counter() - t0)
            t = report["timings"]
            gate.append(t["router_started"] - t["last_worker_ready"])
            gate_router.append(t["router_ready"] - t["last_worker_ready"])
            pdc(folder, "down")
            total, per_instance = _serial_by_hand(folder)
            serial.append(total)
            slowest.append(max(per_instance))
            pdc(folder, "down")
    finally:
        pdc(folder, "down", check=False)
    section = f"deploy to a ready router, guide rehearsed (7 hosts, {load_delay:g} s model load), median of {runs}"
    ratio = median(ours) / median(slowest)
    return [Figure(section, "pdcompose deploy (whole process)", round(median(ours), 2), "s", runs=ours),
            Figure(section, "by hand, serially (instance by instance)", round(median(serial), 2), "s", runs=serial),
            Figure(section, "slowest single instance alone", round(median(slowest), 2), "s", runs=slowest),
            Figure(section, "pdcompose / slowest instance", round(ratio, 2), "x", "<= 1.3", ratio <= 1.3),
            Figure(section, "gate: last worker ready -> router started", round(median(gate), 2), "s", "< 2 s",
                   median(gate) < 2, gate),
            Figure(section, "last worker ready -> router ready", round(median(gate_router), 2), "s", runs=gate_router)]


def _serial_by_hand(folder: Path) -> tuple[float, list[float]]:
    """The guide by hand: each instance's hosts started one after the other with `docker compose up -d`,
    then /health polled until the instance serves (`up --wait` per host would deadlock: a DP master is
    only healthy once its worker joined); the next instance after; the router last with `up --wait`."""
    plan = json.loads((folder / "out-rehearsal/plan.json").read_text())
    t0, per_instance = time.perf_counter(), []
    groups: dict[tuple, list] = {}
    for host in plan["hosts"]:
        for c in host["containers"]:
            if c["role"] != "router":
                groups.setdefault((c["role"], c["instance"]), []).append((host["name"], c["url"]))
    for members in groups.values():
        start = time.perf_counter()
        for host, _ in members:
            _compose(folder, host, "up", "-d")
        for _, url in members:
            _wait_health(url)
        per_instance.append(time.perf_counter() - start)
    _compose(folder, plan["router"]["host"], "up", "-d", "--wait")
    return time.perf_counter() - t0, per_instance


def _compose(folder: Path, host: str, *args: str) -> None:
    path = folder / "out-rehearsal" / host / "compose.yaml"
    subprocess.run(["docker", "compose", "-f", str(path), *args], env={**os.environ, **ENV}, check=True,
                   capture_output=True, timeout=600)


def _wait_health(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy in {timeout} s")


def load_held() -> list[Figure]:
    folder = stack(guide_text(1.0, "127.0.5.10"))
    try:
        pdc(folder, "deploy")
        result = bench(folder, "-n", "5000", "-c", "512", "--input-len", "256", "--output-len", "32")
    finally:
        pdc(folder, "down", check=False)
    m, p = result["metrics"], result["pairing"]
    section = "load held: guide rehearsed (4 prefill + 2 decode nodes), 5000 requests @ 512"
    return [Figure(section, "failed requests", m["failed"], "", "0", m["failed"] == 0),
            Figure(section, "lost / duplicated requests", f"{p['lost']} / {p['duplicated']}", "", "0 / 0",
                   p["lost"] == 0 and p["duplicated"] == 0),
            Figure(section, "paired exactly once at a prefill and a decode", f"{p['paired']}/{p['checked']}", "",
                   "all", p["ok"]),
            Figure(section, "requests/s", round(m["request_throughput"], 1), "req/s"),
            Figure(section, "p99 end-to-end", round(m["e2el"]["p99_ms"], 1), "ms")]
