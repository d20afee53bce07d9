"""`make e2e`: host-level faults on a lab of real Docker hosts, each with what an operator needs to see.

A small PD deployment (prefill on p, two decode instances on d0 and d1, the router and Prometheus on r),
moved onto a 4-host lab and driven from the lab's SSH-only operator:
- a host whose Docker daemon is stopped, and one whose sshd refuses the key: doctor and deploy name both
  hosts and the fix, and nothing starts anywhere;
- a decode host lost (everything on it killed, its link down): status names the host in bounded time,
  the alert fires, the router stops sending to it and traffic moves to the other decode; every request
  ends within its timeout;
- a decode host partitioned from the prefill host: what clients get, what status says.
Every figure is printed from this run.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path

import httpx
import pytest

from pdcompose.lab.model import Lab
from tests.figures import LINES
from tests.lab.kit import containers_on, lab_of, moved, op, pdc
from tests.topologies import pd_topology

pytestmark = pytest.mark.e2e
LAB = "e2ef"
SUBNET = "198.19.2.0/24"
HOLD = 3.0
TOPOLOGY = pd_topology("e2e-lab-faults", first="127.0.0.10", decodes=[("d0",), ("d1",)], model="org/model",
                       image="vllm/vllm-openai:v0.13.0", rehearsal="load_delay: 1", extra=f"""\
monitoring: {{enabled: true, scrape_interval: 1s, alert_for: {HOLD:g}s}}
""")
PROMETHEUS = "http://198.19.2.13:9090"


@pytest.fixture(scope="module")
def lab() -> Lab:
    with lab_of(LAB, 4, SUBNET) as made:
        yield made


@pytest.fixture(scope="module")
def topology(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lab-faults")
    (folder / "source.yaml").write_text(TOPOLOGY)
    return moved(lab, folder / "source.yaml", folder)


def fault(*args: str) -> str:
    return pdc("lab", "fault", *args, "--name", LAB, timeout=120).stdout


def alerts() -> list[dict]:
    return httpx.get(f"{PROMETHEUS}/api/v1/alerts", timeout=5).json()["data"]["alerts"]


def test_faults_on_real_hosts(lab: Lab, topology: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(topology.parent)
    op(lab, topology, "images", "push", "--loadgen", timeout=900)
    # p = n0, d0 = n1, d1 = n2, r = n3
    _a_stopped_daemon_and_a_refused_key(lab, topology)
    op(lab, topology, "deploy")
    _a_decode_host_lost(lab, topology)
    _a_decode_host_partitioned(lab, topology)
    fault("heal")
    op(lab, topology, "down", timeout=300)
    assert containers_on(lab) == {h.name: [] for h in lab.hosts}, containers_on(lab)


def _a_stopped_daemon_and_a_refused_key(lab: Lab, topology: Path) -> None:
    fault("stop-daemon", "n1")
    fault("refuse-key", "n2")
    doctor = op(lab, topology, "doctor", ok=False)
    text = doctor.stdout + doctor.stderr
    assert "d0" in text and "d1" in text, text
    LINES.append("lab fault, doctor with a stopped daemon (d0) and a refused key (d1): "
                 + " | ".join(ln.strip() for ln in text.splitlines() if ("d0" in ln or "d1" in ln))[:400])
    deploy = op(lab, topology, "deploy", ok=False)
    said = deploy.stdout + deploy.stderr
    assert "d0" in said and "d1" in said, said
    assert containers_on(lab) == {h.name: [] for h in lab.hosts}, "deploy started something while two hosts were down"
    fault("heal")


def _a_decode_host_lost(lab: Lab, topology: Path) -> None:
    warm = json.loads(op(lab, topology, "bench", "-n", "40", "--max-concurrency", "4", "--input-len", "32",
                         "--output-len", "4", "--json").stdout)
    assert warm["metrics"]["failed"] == 0, warm["metrics"]
    t0 = time.monotonic()
    fault("lose", "n2")                            # d1's host
    watch = concurrent.futures.ThreadPoolExecutor(1).submit(_wait_for_alert, "PdcomposeApiServerDown", "decode-1",
                                                            t0, 60)
    during = json.loads(op(lab, topology, "bench", "-n", "60", "--max-concurrency", "4", "--input-len", "32",
                           "--output-len", "4", "--json", ok=None).stdout or "{}")
    bench_took = time.monotonic() - t0
    t1 = time.monotonic()
    status = op(lab, topology, "status", "--json", ok=False, timeout=120)
    status_took = time.monotonic() - t1
    rows = json.loads(status.stdout)
    assert any(c["host"] == "d1" and c["state"] != "running" for c in rows["containers"]), rows
    fired = watch.result(timeout=90)
    after = json.loads(op(lab, topology, "bench", "-n", "40", "--max-concurrency", "4", "--input-len", "32",
                          "--output-len", "4", "--json", ok=None).stdout)
    metrics = during.get("metrics", {})
    LINES.append(f"lab fault, decode host d1 lost under load: {metrics.get('completed')} completed, "
                 f"{metrics.get('failed')} failed, the bench ended {bench_took:.0f} s after the loss; status "
                 f"named d1 in "
                 f"{status_took:.1f} s; alert after {fired:.1f} s; then {after['metrics']['completed']}/40 served "
                 f"by d0 ({after['metrics']['failed']} failed)")
    assert after["metrics"]["failed"] == 0, after["metrics"]
    fault("heal", "n2")


def _wait_for_alert(name: str, instance: str, since: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(a["labels"]["alertname"] == name and a["state"] == "firing" and a["labels"].get("instance") == instance
               for a in alerts()):
            return time.monotonic() - since
        time.sleep(0.5)
    raise AssertionError(f"{name} for {instance} did not fire within {timeout:.0f} s: {alerts()}")


def _a_decode_host_partitioned(lab: Lab, topology: Path) -> None:
    _wait_status_ok(lab, topology, timeout=180)
    fault("partition", "n1", "n0")                 # d0 cannot reach p (nor p d0); the router still reaches both
    bench = json.loads(op(lab, topology, "bench", "-n", "40", "--max-concurrency", "4", "--input-len", "32",
                          "--output-len", "4", "--json", ok=None).stdout or "{}")
    status = op(lab, topology, "status", ok=None, timeout=120)
    LINES.append(f"lab fault, decode host d0 cut off from the prefill host: {bench.get('metrics', {}).get('completed')}"
                 f" completed, {bench.get('metrics', {}).get('failed')} failed of 40; status exit {status.returncode}: "
                 + " | ".join(ln.strip() for ln in status.stdout.splitlines() if "d0" in ln)[:300])
    assert status.returncode == 1 and "d0" in status.stdout, status.stdout
    fault("heal", "n1")


def _wait_status_ok(lab: Lab, topology: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if op(lab, topology, "status", ok=None, timeout=120).returncode == 0:
            return
        time.sleep(2)
    raise AssertionError(f"status not ok within {timeout:.0f} s after healing")
