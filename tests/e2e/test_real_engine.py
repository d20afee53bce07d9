"""`make e2e`, real engine: examples/rehearsal-real.yaml rehearsed with real `vllm serve` (the CPU build of
vLLM 0.13.0, image `images/build.sh vllm`) behind the real vllm-router, through the pdcompose CLI as a
user types it.

One prefill node and one decode instance spanning two rehearsed hosts (hybrid-LB data parallelism, 2
engines per node, DP 4). In order: deploy (health gate, router last), a benchmark through the router
whose every request is proven paired P->D by the engines' own counters (prefill and decode finished
the same number of requests, and the decode's `vllm:nixl_*` metrics counted one KV transfer per
request, none failed), status, a prefill container restarted behind pdcompose's back and what the
decode then does, `pdcompose restart --role prefill`, down with nothing left behind. Prints the time to
a ready router, the peak memory of the containers and the requests per second.

Memory: ~3.4 GB for the prefill, ~6.5 GB per decode node: ~17 GB. The test waits (up to 10 min) for
other jobs on the machine to use no more than MAX_OTHERS_GB before it starts, and never skips.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from pdcompose import defaults
from tests.e2e.kit import leftovers
from tests.figures import LINES
from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.e2e
CLUSTER = "e2e-real"
FIRST = "127.0.3.10"                   # clear of the mock scenario's 127.0.2.x and other tests' addresses
PREFILL = "http://127.0.3.10:8087"
DECODES = ["http://127.0.3.11:8087", "http://127.0.3.12:8087"]
ROUTER = "http://127.0.3.13:8123"
MODEL = "tiny-llama"
MAX_OTHERS_GB = 8.0                    # what other jobs may use before this scenario starts
NEEDS_GB = 17.0


def cli(folder: Path, *args: str, ok: bool | None = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    t0 = time.monotonic()
    result = run_cli(*args, cwd=folder, timeout=timeout)
    print(f"$ pdcompose {' '.join(args)}  -> {result.returncode} ({time.monotonic() - t0:.1f} s)")
    if ok is not None:
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def used_gb() -> float:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kb = int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])
    return kb / 2**20


def wait_for_memory() -> None:
    """Others may run tests on this machine: start only when they leave room (never skip)."""
    t0 = time.monotonic()
    while used_gb() > MAX_OTHERS_GB and time.monotonic() - t0 < 600:
        time.sleep(10)
    waited = time.monotonic() - t0
    print(f"memory in use before the real-engine scenario: {used_gb():.1f} GB (waited {waited:.0f} s; "
          f"the scenario needs ~{NEEDS_GB:.0f} GB)")


class PeakMemory:
    """Samples the memory of the cluster's containers every second (cgroup v1 or v2, like `docker stats`:
    usage minus inactive page cache) and keeps the peak of their sum."""

    def __init__(self) -> None:
        self.peak = 0.0
        self.peak_by: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @staticmethod
    def _containers() -> dict[str, str]:
        out = subprocess.run(["docker", "ps", "--no-trunc", "--filter", f"label=io.pdcompose.cluster={CLUSTER}",
                              "--format", "{{.ID}} {{.Names}}"], capture_output=True, text=True, timeout=30).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    @staticmethod
    def _bytes(cid: str) -> float | None:
        for folder, usage, inactive in ((f"/sys/fs/cgroup/memory/docker/{cid}", "memory.usage_in_bytes",
                                         "total_inactive_file"),
                                        (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope", "memory.current",
                                         "inactive_file"),
                                        (f"/sys/fs/cgroup/docker/{cid}", "memory.current", "inactive_file")):
            base = Path(folder)
            try:
                total = int((base / usage).read_text())
                stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
            except (OSError, ValueError):
                continue
            return total - int(stat.get(inactive, 0))
        return None

    def _run(self) -> None:
        containers: dict[str, str] = {}
        last = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last > 5:
                containers, last = self._containers(), time.monotonic()
            sizes = {name: b for cid, name in containers.items() if (b := self._bytes(cid)) is not None}
            self.peak = max(self.peak, sum(sizes.values()) / 2**30)
            for name, b in sizes.items():
                self.peak_by[name] = max(self.peak_by.get(name, 0.0), b / 2**30)
            self._stop.wait(1)


def metrics(url: str) -> dict[str, float]:
    """A /metrics page, every series of a name summed (over engines, labels)."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def counters() -> dict[str, float]:
    """The counters that prove pairing and the KV transfer: the prefill's finished requests, the decodes'
    finished requests and NIXL transfers (both decode nodes, every engine)."""
    p = metrics(PREFILL)
    d = [metrics(u) for u in DECODES]
    return {"prefill_requests": p.get("vllm:request_success_total", 0.0),
            "decode_requests": sum(x.get("vllm:request_success_total", 0.0) for x in d),
            "nixl_transfers": sum(x.get("vllm:nixl_xfer_time_seconds_count", 0.0) for x in d),
            "nixl_failed": sum(x.get("vllm:nixl_num_failed_transfers_total", 0.0) for x in d),
            "nixl_bytes": sum(x.get("vllm:nixl_bytes_transferred_sum", 0.0) for x in d),
            "external_prompt_tokens": sum(x.get("vllm:prompt_tokens_by_source_total", 0.0) for x in d)}


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


def requests_through_router(n: int) -> list[int]:
    """n small completions through the router, one at a time: their HTTP status codes."""
    codes = []
    for i in range(n):
        try:
            r = httpx.post(f"{ROUTER}/v1/completions", timeout=120,
                           json={"model": MODEL, "prompt": f"prefill decode router request {i}", "max_tokens": 4})
            codes.append(r.status_code)
        except httpx.HTTPError:
            codes.append(0)
    return codes


def wait_healthy(url: str, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} not healthy within {timeout} s")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("e2e-real")
    text = (REPO / "examples" / "rehearsal-real.yaml").read_text().replace("name: pd-real", f"name: {CLUSTER}")
    assert "  engine: vllm\n" in text
    text = text.replace("  engine: vllm\n", f"  engine: vllm\n  first_address: {FIRST}\n")
    (folder / "pdcompose.yaml").write_text(text)
    yield folder
    run_cli("down", cwd=folder, timeout=300)     # whatever happened above
    for cid in leftovers(CLUSTER)["containers"]:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)


def test_real_engine_rehearsed_end_to_end(folder: Path):
    assert leftovers(CLUSTER) == {"containers": [], "networks": [], "contexts": []}
    subprocess.run(["docker", "image", "inspect", defaults.VLLM_CPU_IMAGE], check=True, capture_output=True)

    # The plan states what the real engine substitutes; argv keeps the plan's flags.
    plan = json.loads(cli(folder, "plan", "--json").stdout)
    assert plan["rehearsal"] and any(s.startswith("model: /opt/pdcompose/tiny-llama") for s in plan["substitutions"])
    images = {c["image"] for h in plan["hosts"] for c in h["containers"] if c["role"] != "router"}
    assert images == {defaults.VLLM_CPU_IMAGE}

    wait_for_memory()
    with PeakMemory() as mem:
        t0 = time.monotonic()
        deployed = json.loads(cli(folder, "deploy", "--json").stdout)
        ready = time.monotonic() - t0
        assert deployed["smoke"].startswith("200")
        assert sum(len(v) for v in deployed["started"].values()) == 4
        print(f"deploy timings: {deployed['timings']}")
        assert httpx.get(f"{ROUTER}/health", timeout=5).status_code == 200

        status = json.loads(cli(folder, "status", "--json").stdout)
        assert status["status"] == "ok" and len(status["containers"]) == 4
        assert all(c["state"] == "running" and c["endpoint"] == "200" for c in status["containers"])

        # A benchmark through the router. Every request is one prefill leg and one decode leg: the
        # prefill and the decodes finish exactly as many requests as the bench sent, and the decode pulls
        # each one's KV over NIXL (one transfer per request, none failed).
        before = counters()
        n = 24
        bench = json.loads(cli(folder, "bench", "-n", str(n), "-c", "4", "--input-len", "64", "--output-len", "16",
                               "--json").stdout)
        moved = delta(before, counters())
        m = bench["metrics"]
        assert m["completed"] == n and m["failed"] == 0, bench
        assert moved["prefill_requests"] == n and moved["decode_requests"] == n, moved
        assert moved["nixl_transfers"] == n and moved["nixl_failed"] == 0, moved
        assert moved["external_prompt_tokens"] > 0 or "vllm:prompt_tokens_by_source_total" not in metrics(DECODES[0])
        rps = m["request_throughput"]
        print(f"bench: {n} requests, {rps:.2f} req/s, NIXL: {moved['nixl_transfers']:.0f} transfers, "
              f"{moved['nixl_bytes'] / 1e6:.1f} MB, {moved['nixl_failed']:.0f} failed")

        # The prefill container restarts behind pdcompose's back (a crash, `docker restart`): what the
        # decode then does is vLLM's, recorded here as it happened.
        prefill = f"{CLUSTER}-node-p0-prefill-0-node-0-1"
        subprocess.run(["docker", "restart", "-t", "5", prefill], check=True, capture_output=True, timeout=120)
        back = wait_healthy(PREFILL, 600)
        early = requests_through_router(2)             # the router still holds the prefill unhealthy
        again = wait_healthy(ROUTER, 120)              # until its runtime check (every 2 s) sees it back
        before = counters()
        codes = requests_through_router(6)
        after_restart = delta(before, counters())
        decode_ok = all(httpx.get(f"{u}/health", timeout=5).status_code == 200 for u in DECODES)
        print(f"after a prefill restart (healthy again in {back:.0f} s): router answered {early} at once, "
              f"/health 200 again {again:.0f} s later, then {codes}; decode healthy: {decode_ok}; NIXL "
              f"transfers {after_restart['nixl_transfers']:.0f}, failed {after_restart['nixl_failed']:.0f}")

        # `pdcompose restart --role prefill`: prefill, then the decode group (master first), health-gated.
        t1 = time.monotonic()
        cli(folder, "restart", "--role", "prefill")
        restarted = time.monotonic() - t1
        # restart returns once the workers answer /health; the router takes them back at its next checks.
        seen = wait_healthy(ROUTER, 120)
        print(f"router /health 200 again {seen:.0f} s after `pdcompose restart` returned")
        assert json.loads(cli(folder, "status", "--json").stdout)["status"] == "ok"
        before = counters()
        codes_after = requests_through_router(6)
        healed = delta(before, counters())
        print(f"pdcompose restart --role prefill took {restarted:.0f} s; then the router answered {codes_after}; "
              f"NIXL transfers {healed['nixl_transfers']:.0f}, failed {healed['nixl_failed']:.0f}")
        assert codes_after == [200] * 6
        assert healed["nixl_transfers"] == 6 and healed["nixl_failed"] == 0

    cli(folder, "down", timeout=300)
    assert leftovers(CLUSTER) == {"containers": [], "networks": [], "contexts": []}

    per = ", ".join(f"{k.removeprefix(CLUSTER + '-')}: {v:.1f}" for k, v in sorted(mem.peak_by.items()))
    summary = (f"real engine (vLLM {defaults.VLLM_CPU_VERSION} CPU, 1 prefill + 2-node DP-4 decode): router ready "
               f"{ready:.0f} s after `deploy`; peak memory {mem.peak:.1f} GB ({per} GB); {rps:.2f} req/s; "
               f"{n} requests paired P->D, {moved['nixl_transfers']:.0f} NIXL transfers counted by the decode, "
               f"0 failed; after a prefill restart: {codes.count(200)}/{len(codes)} requests OK")
    print(summary)
    LINES.append(summary)
