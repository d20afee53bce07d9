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
import threading
import time
from datetime import UTC, datetime
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
            pdc(folder, "bench", "-n", "200", "--max-concurrency", "64",
                "--input-len", "128", "--output-len", "32")  # warm-up
            result = bench(folder, "-n", "2000", "--max-concurrency", "256", "--input-len", "128", "--output-len", "32")
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


def gate_by_access(runs: int = 3, load_delay: float = 5.0) -> list[Figure]:
    """Issue 15: the health gate reached directly and through the Docker contexts (one `docker exec` per host
    per round), the same rehearsed guide deployed both ways, alternately. The latency is measured outside
    pdcompose: from the moment an independent 50 ms poller saw the last API server's /health turn 200 to
    the router container's StartedAt (its own timings would only time the step between two lines of code)."""
    folder = stack(guide_text(load_delay, "127.0.22.10"))
    pdc(folder, "render", "--rehearsal")
    plan = json.loads((folder / "out-rehearsal/plan.json").read_text())
    urls = [c["url"] for h in plan["hosts"] for c in h["containers"] if c["role"] != "router"]
    router = f"{plan['cluster']}-{plan['router']['host']}-router-1"
    gates: dict[str, list[float]] = {"direct": [], "context": []}
    totals: dict[str, list[float]] = {"direct": [], "context": []}
    statuses: dict[str, list[float]] = {"direct": [], "context": [], "auto": []}
    try:
        for _ in range(runs):
            for way in gates:
                stop, ready = threading.Event(), {}
                watcher = threading.Thread(target=_watch_ready, args=(urls, ready, stop), daemon=True)
                watcher.start()
                report = json.loads(pdc(folder, "deploy", "--json", "--no-smoke", "--access", way).stdout)
                stop.set()
                watcher.join()
                started = _started_at(router)
                gates[way].append(started - max(ready.values()))
                totals[way].append(report["timings"]["total"])
                for status_way in (way, "auto") if way == "context" else (way,):
                    t0 = time.perf_counter()
                    pdc(folder, "status", "--access", status_way)
                    statuses[status_way].append(time.perf_counter() - t0)
                pdc(folder, "down")
    finally:
        pdc(folder, "down", check=False)
    section = f"health gate by access, guide rehearsed (7 hosts, {load_delay:g} s model load), median of {runs}"
    figures = []
    for way in gates:
        gate = gates[way]
        figures += [Figure(section, f"{way}: last API server ready -> router started", round(median(gate), 2), "s",
                           "< 2 s", median(gate) < 2, gate),
                    Figure(section, f"{way}: deploy (whole process)", round(median(totals[way]), 2), "s",
                           runs=totals[way])]
    figures += [Figure(section, f"status --access {way} (whole process)", round(median(runs_of), 2), "s",
                       runs=runs_of) for way, runs_of in statuses.items()]
    return figures


def _watch_ready(urls: list[str], ready: dict[str, float], stop: threading.Event) -> None:
    with httpx.Client() as client:
        while not stop.is_set():
            for url in urls:
                if url in ready:
                    continue
                try:
                    if client.get(f"{url}/health", timeout=0.2).status_code == 200:
                        ready[url] = time.time()
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)


def _started_at(container: str) -> float:
    text = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container], capture_output=True,
                          text=True, check=True).stdout.strip()       # RFC 3339 with nanoseconds
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp() + float(f"0.{frac or 0}")


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
        result = bench(folder, "-n", "5000", "--max-concurrency", "512", "--input-len", "256", "--output-len", "32")
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
