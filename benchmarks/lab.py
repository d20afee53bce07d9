"""Issue 23: a lab of real Docker hosts reached over SSH (pdcompose lab), measured.

- `ssh`: the guide's 7 hosts (mock engine) from the lab's SSH-only operator, with 0 and 50 ms of one-way
  delay on every SSH link (a relay in the SSH client's ProxyCommand: this kernel has no netem): the health
  gate's latency (an independent poller on this machine sees the last API server ready -> the router
  container's StartedAt on its host), `status` of 7 hosts as a whole process, and the SSH connections each
  command opened (counted in the hosts' sshd logs), with pdcompose's multiplexing and without it.
- `scale`: labs of 8 and 32 hosts: `lab up`, `deploy`, `status` and `down` timed, and the memory of a lab
  host (its daemons, sshd and a mock vLLM). The hosts start with the mock and router images seeded
  (`lab up --seed`, hardlinked): `images push` is measured by `ssh` and by `make e2e`, and 32 copies
  of the mock image would measure this machine's disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import PDCOMPOSE, REPO, Figure, median
from benchmarks.stack import _watch_ready
from pdcompose import defaults
from pdcompose.lab.inspect import host_states, ssh_connections
from pdcompose.lab.model import Lab, load_lab
from pdcompose.lab.system import in_netns

ENV = {"HF_TOKEN": "bench-placeholder"}


def _pdc(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PDCOMPOSE, *args], cwd=cwd, env={**os.environ, **ENV, **(env or {})},
                          capture_output=True, text=True, timeout=1800)
    if check and done.returncode != 0:
        raise RuntimeError(f"pdcompose {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


def _op(lab: Lab, folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """pdcompose on the operator machine (no `lab exec` wrapper: its start-up is not the command's)."""
    t0 = time.perf_counter()
    done = subprocess.run(in_netns(lab.operator_netns, [*PDCOMPOSE, *args]), cwd=folder,
                          env={**os.environ, **ENV, **(env or {})}, capture_output=True, text=True, timeout=1800)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"pdcompose {' '.join(args)} on the operator failed:\n{done.stderr[-3000:]}")
    return took, done.stdout


@contextmanager
def _lab(name: str, count: int, subnet: str, seed: tuple[str, ...] = ()) -> Iterator[tuple[Lab, float]]:
    _pdc("lab", "down", "--name", name)
    t0 = time.perf_counter()
    _pdc("lab", "up", str(count), "--name", name, "--subnet", subnet, *(a for ref in seed for a in ("--seed", ref)))
    took = time.perf_counter() - t0
    lab = load_lab(name)
    assert lab is not None
    try:
        yield lab, took
    finally:
        _pdc("lab", "down", "--name", name, check=False)


def _moved(lab: Lab, text: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="pdc-bench-lab-"))
    (folder / "source.yaml").write_text(text)
    _pdc("lab", "topology", "--name", lab.name, "--for", str(folder / "source.yaml"), "-o",
         str(folder / "pdcompose.yaml"))
    return folder


def _opened(lab: Lab, fn):  # noqa: ANN001, ANN202
    before = ssh_connections(lab)
    result = fn()
    return result, sum(ssh_connections(lab).values()) - sum(before.values())


def _started_at(lab: Lab, host: str, container: str) -> float:
    socket = lab.host(host).socket
    text = subprocess.run(["docker", "-H", socket, "inspect", "-f", "{{.State.StartedAt}}", container],
                          capture_output=True, text=True, check=True).stdout.strip()
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp() + float(f"0.{frac or 0}")


def ssh_costs(runs: int = 3, load_delay: float = 3.0) -> list[Figure]:
    guide = (REPO / "examples/deepseek-r1-gb200.yaml").read_text().replace("name: dsr1-gb200", "name: bench-lab")
    figures: list[Figure] = []
    with _lab("bssh", 7, "198.19.3.0/24") as (lab, _):
        folder = _moved(lab, guide + f"\nrehearsal: {{load_delay: {load_delay}}}\n")
        _op(lab, folder, "images", "push")
        plan = json.loads(_op(lab, folder, "plan", "--json")[1])
        urls = [c["url"] for h in plan["hosts"] for c in h["containers"] if c["role"] != "router"]
        router_host = plan["router"]["host"]
        router = f"{plan['cluster']}-{router_host}-router-1"
        lab_router = lab.hosts[[h["name"] for h in plan["hosts"]].index(router_host)].name
        for delay in (0, 50):
            _pdc("lab", "fault", "delay", str(delay), "--name", lab.name)
            gates, deploys, status_mux, status_plain, conn = [], [], [], [], {"deploy": [], "mux": [], "plain": []}
            for _ in range(runs):
                stop, ready = threading.Event(), {}
                watcher = threading.Thread(target=_watch_ready, args=(urls, ready, stop), daemon=True)
                watcher.start()
                (took, _out), opened = _opened(lab, lambda: _op(lab, folder, "deploy", "--no-smoke", "--access",
                                                                 "context"))
                stop.set()
                watcher.join()
                gates.append(_started_at(lab, lab_router, router) - max(ready.values()))
                deploys.append(took)
                conn["deploy"].append(opened)
                (took, _out), opened = _opened(lab, lambda: _op(lab, folder, "status", "--access", "context"))
                status_mux.append(took)
                conn["mux"].append(opened)
                (took, _out), opened = _opened(lab, lambda: _op(lab, folder, "status", "--access", "context",
                                                                 env={"PDCOMPOSE_SSH_MUX": "0"}))
                status_plain.append(took)
                conn["plain"].append(opened)
                _op(lab, folder, "down")
            section = (f"lab: the guide on 7 hosts over SSH only, {delay} ms each way on every SSH link, "
                       f"median of {runs}")
            figures += [
                Figure(section, "last API server ready -> router started", round(median(gates), 2), "s", "< 2 s",
                       median(gates) < 2, gates),
                Figure(section, "deploy (whole process)", round(median(deploys), 1), "s", runs=deploys),
                Figure(section, "status of 7 hosts (whole process)", round(median(status_mux), 2), "s", "< 3 s",
                       median(status_mux) < 3, status_mux),
                Figure(section, "status without SSH multiplexing", round(median(status_plain), 2), "s",
                       runs=status_plain),
                Figure(section, "SSH connections: deploy / status / status unmultiplexed",
                       f"{median(conn['deploy']):g} / {median(conn['mux']):g} / {median(conn['plain']):g}"),
            ]
        _pdc("lab", "fault", "delay", "0", "--name", lab.name)
    return figures


def _scale_topology(count: int) -> str:
    """Single-node instances: prefills on the first half, decodes on the rest, the router on the last host."""
    if count < 3:
        raise ValueError("a PD deployment needs 3 hosts at least (a prefill, a decode, the router)")
    half = max(1, (count - 1) // 2)
    hosts = [f"h{i}" for i in range(count)]
    lines = ["name: bench-scale", "model: org/model", "image: vllm/vllm-openai:v0.13.0", "args:",
             "  kv-transfer-config: {kv_connector: NixlConnector, kv_role: kv_both}", "hosts:"]
    lines += [f"  {h}: {{address: 10.0.0.{i + 1}, gpus: {'[]' if i == count - 1 else '[0]'}}}"
              for i, h in enumerate(hosts)]
    lines.append("prefill: [" + ", ".join(f"{{nodes: [{h}]}}" for h in hosts[:half]) + "]")
    lines.append("decode: [" + ", ".join(f"{{nodes: [{h}]}}" for h in hosts[half:count - 1]) + "]")
    lines += [f"router: {{host: {hosts[-1]}}}", "rehearsal: {enabled: true, load_delay: 1}"]
    return "\n".join(lines) + "\n"


def scale(sizes: tuple[int, ...] = (8, 32)) -> list[Figure]:
    section = "lab: deploy, status and down at 8 and 32 hosts (mock engine, one node per host), one run each"
    figures: list[Figure] = []
    took: dict[int, dict[str, float]] = {}
    for count in sizes:
        seeded = (defaults.MOCK_VLLM_IMAGE, defaults.ROUTER_IMAGE)
        with _lab(f"bs{count}", count, f"198.19.{4 + sizes.index(count)}.0/24", seeded) as (lab, up):
            folder = _moved(lab, _scale_topology(count))
            t = {"lab up": up}
            t["deploy"] = _op(lab, folder, "deploy", "--no-smoke")[0]
            t["status"] = _op(lab, folder, "status")[0]
            states = host_states(lab)
            memory = median([s["memory_mb"] for s in states if s["containers"]])
            t["down"] = _op(lab, folder, "down")[0]
            took[count] = t
            figures += [Figure(section, f"{count} hosts: {k}", round(v, 1), "s") for k, v in t.items()]
            figures.append(Figure(section, f"{count} hosts: memory of a lab host (dockerd, containerd, sshd, "
                                           "one mock vLLM)", memory, "MB"))
    small, big = sizes[0], sizes[-1]
    for step in ("deploy", "status", "down"):
        ratio = took[big][step] / took[small][step]
        figures.append(Figure(section, f"{step}: {big} hosts / {small} hosts", round(ratio, 2), "x", "<= 2x",
                              ratio <= 2))
    return figures
