"""What the real-engine scenario measures with: the engines' own counters, /health over time, the memory of
the hosts' containers, requests through a router. The scenario is tests/e2e/test_real_engine.py."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx

MODEL = "tiny-llama"
MAX_OTHERS_GB = 8.0                    # what other jobs may use before the scenario starts
NEEDS_GB = 17.0


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
    """Samples the memory of the given cgroups every second (each lab host's Docker daemon puts its containers
    under its own cgroup parent, so a host's cgroup holds all of them; cgroup v1 or v2, like `docker stats`:
    usage minus inactive page cache) and keeps the peak of their sum, and each one's."""

    def __init__(self, cgroups: dict[str, str]) -> None:
        self.cgroups = cgroups              # name -> cgroup parent ("pdlab-e2er-n1")
        self._found: dict[str, tuple[Path, str, str]] = {}
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
    def _folder(parent: str) -> tuple[Path, str, str] | None:
        """The cgroup folder of `parent` with its usage file and inactive-cache key (v1 or v2). This machine
        may itself run in a cgroup namespace: /sys/fs/cgroup shows the whole tree, with `parent` deeper."""
        for root, usage, inactive in (("/sys/fs/cgroup/memory", "memory.usage_in_bytes", "total_inactive_file"),
                                      ("/sys/fs/cgroup", "memory.current", "inactive_file")):
            for pattern in (parent, f"*/{parent}", f"*/*/{parent}"):
                for folder in Path(root).glob(pattern):
                    if (folder / usage).exists():
                        return folder, usage, inactive
        return None

    def _bytes(self, parent: str) -> float | None:
        found = self._found.get(parent) or self._folder(parent)
        if found is None:
            return None
        self._found[parent] = found
        folder, usage, inactive = found
        try:
            total = int((folder / usage).read_text())
            stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
        except (OSError, ValueError):
            return None
        return total - int(stat.get(inactive, 0))

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = {name: b for name, parent in self.cgroups.items() if (b := self._bytes(parent)) is not None}
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


def counters(prefill: str, decodes: list[str]) -> dict[str, float]:
    """The counters that prove pairing and the KV transfer: the prefill's finished requests, the decodes'
    finished requests and NIXL transfers (every decode node, every engine)."""
    p = metrics(prefill)
    d = [metrics(u) for u in decodes]
    return {"prefill_requests": p.get("vllm:request_success_total", 0.0),
            "decode_requests": sum(x.get("vllm:request_success_total", 0.0) for x in d),
            "nixl_transfers": sum(x.get("vllm:nixl_xfer_time_seconds_count", 0.0) for x in d),
            "nixl_failed": sum(x.get("vllm:nixl_num_failed_transfers_total", 0.0) for x in d),
            "nixl_bytes": sum(x.get("vllm:nixl_bytes_transferred_sum", 0.0) for x in d),
            "external_prompt_tokens": sum(x.get("vllm:prompt_tokens_by_source_total", 0.0) for x in d)}


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


def requests_through_router(n: int, router: str) -> list[int]:
    """n small completions through the router, one at a time: their HTTP status codes."""
    codes = []
    for i in range(n):
        try:
            r = httpx.post(f"{router}/v1/completions", timeout=120,
                           json={"model": MODEL, "prompt": f"prefill decode router request {i}", "max_tokens": 4})
            codes.append(r.status_code)
        except httpx.HTTPError:
            codes.append(0)
    return codes


class HealthWatch:
    """A node's /health sampled every 0.2 s in a thread: the distinct states in order (200, 503, "refused")."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.states: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthWatch:
        self._sample()                  # the state before whatever the block does, whatever the thread's timing
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.2)

    def _sample(self) -> None:
        try:
            state: int | str = httpx.get(f"{self.url}/health", timeout=2).status_code
        except httpx.TimeoutException:
            state = "timeout"
        except httpx.HTTPError:
            state = "refused"
        if not self.states or self.states[-1] != state:
            self.states.append(state)


def readiness(states: list[int | str]) -> list[bool]:
    """/health states as ready (200) or not, consecutive repeats folded."""
    out: list[bool] = []
    for ready in (state == 200 for state in states):
        if not out or out[-1] != ready:
            out.append(ready)
    return out


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
