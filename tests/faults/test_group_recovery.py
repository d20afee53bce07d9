"""Multi-node instances heal themselves (recovery: auto): under a steady load through the real router, with
two instances of each role, a killed node (a decode worker, a decode master, a prefill worker) takes its whole
group out of service within seconds, the router sends the traffic to the other instance, and the group
restarts whole, master first, without any pdcompose command. A node that cannot start sends the group into a
backed-off crash loop that `status` names with the node's last log lines; a host gone for good leaves its
group down and reported, without flapping. Counts the requests that failed around each fault."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import leftover_containers
from tests.figures import LINES
from tests.helpers import run_cli
from tests.topologies import NIXL

pytestmark = pytest.mark.docker

CLUSTER = "h19-heal"
HOSTS = ["p0", "p1", "p2", "d0", "d1", "d2", "r"]
ADDRESS = {h: f"127.0.119.{20 + i}" for i, h in enumerate(HOSTS)}
ROUTER = f"http://{ADDRESS['r']}:8123"
TOPOLOGY = f"""name: {CLUSTER}
model: heal/model
args:
  kv-transfer-config: {NIXL}
hosts:
{chr(10).join(f"  {h}: {{address: 10.0.1.{i + 1}{'' if h == 'r' else ', gpus: [0]'}}}" for i, h in enumerate(HOSTS))}
prefill: [{{nodes: [p0, p1]}}, {{nodes: [p2]}}]
decode: [{{nodes: [d0, d1]}}, {{nodes: [d2]}}]
router: {{host: r}}
rehearsal: {{enabled: true, first_address: {ADDRESS['p0']}, load_delay: 0.5}}
"""


def engine(host: str, role: str, node: int) -> str:
    return f"{CLUSTER}-{host}-{role}-0-node-{node}-1"


class Load:
    """Two clients sending one completion after another through the router; every outcome timestamped."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(2)]
        for t in self._threads:
            t.start()

    def _client(self) -> None:
        body = {"model": "heal/model", "prompt": "a b c d", "max_tokens": 8}
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                t = time.monotonic()
                try:
                    ok = client.post(f"{ROUTER}/v1/completions", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.outcomes.append((t, ok))
                time.sleep(0.05)

    def last_failure(self, since: float) -> float | None:
        return max((t for t, ok in list(self.outcomes) if t >= since and not ok), default=None)

    def failed(self, since: float, until: float | None = None) -> tuple[int, int]:
        """(failed, sent) among the requests sent in [since, until)."""
        window = [ok for t, ok in list(self.outcomes) if t >= since and (until is None or t < until)]
        return window.count(False), len(window)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)


def status(folder: Path) -> dict:
    return json.loads(run_cli("status", "--json", cwd=folder).stdout)


def recovery(report: dict, instance: str) -> dict:
    return next(r for r in report["recovery"] if r["instance"] == instance)


def wait(what: str, check, timeout: float, folder: Path) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        report = status(folder)
        if check(report):
            return report
        if time.monotonic() > deadline:
            bad = [(c["service"], c["state"], c["endpoint"], c["router_view"]) for c in report["containers"]
                   if not c["ok"]]
            pytest.fail(f"{what}: not within {timeout} s; last status: not ok: {bad}; recovery: "
                        f"{report['recovery']}; broken groups: {report['broken_groups']}")
        time.sleep(0.5)


def started_at(name: str) -> str:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", name], capture_output=True,
                         text=True, timeout=60)
    return out.stdout.strip()


@pytest.fixture
def folder(tmp_path: Path):
    (tmp_path / "pdcompose.yaml").write_text(TOPOLOGY)
    yield tmp_path
    run_cli("down", cwd=tmp_path, timeout=300)
    for cid in leftover_containers(CLUSTER):
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)


def heal(folder: Path, load: Load, victim: str, instance: str) -> tuple[float, int, int, int, float]:
    """Kill `victim`; wait until its group serves again and the router counts it healthy. Returns (seconds to
    serving again, failed requests in the fault's window, requests sent in it, failures after it healed, when
    the last failed request was sent, in seconds after the kill)."""
    before = recovery(status(folder), instance)
    assert before["state"] == "serving", before
    t0 = time.monotonic()
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True, timeout=60)
    wait(f"{instance} taken out", lambda r: recovery(r, instance)["state"] != "serving", 30, folder)
    wait(f"{instance} healed", lambda r: r["status"] == "ok", 120, folder)
    healed = time.monotonic()
    time.sleep(3)                                           # then it serves its share again without failures
    failed, sent = load.failed(t0, healed)
    after, _ = load.failed(healed, time.monotonic())
    last = load.last_failure(t0)
    return healed - t0, failed, sent, after, (last - t0) if last is not None else 0.0


def test_groups_heal_themselves_under_load(folder: Path):
    deployed = run_cli("deploy", "--timeout", "180", cwd=folder, timeout=400)
    assert deployed.returncode == 0, deployed.stderr
    load = Load()
    try:
        time.sleep(3)
        assert load.failed(0) == (0, len(load.outcomes)) and load.outcomes, "the deployment serves before any fault"
        figures = {}
        for name, victim, instance in [("decode worker", engine("d1", "decode", 1), "decode-0"),
                                       ("decode master", engine("d0", "decode", 0), "decode-0"),
                                       ("prefill worker", engine("p1", "prefill", 1), "prefill-0")]:
            seconds, failed, sent, after, last = heal(folder, load, victim, instance)
            assert after == 0, f"{name}: requests still fail after {instance} healed"
            # Only what was in flight on the broken instance, or sent to it before the router's health checks
            # took it out (3 failed checks, every 2 s in a rehearsal), may fail: failed requests come back at
            # once, so their count says little and when the last was sent says how long the window was.
            assert last <= 15, f"{name}: a request sent {last:.1f} s after the kill failed ({failed} of {sent})"
            figures[name] = (seconds, failed, sent, last)
            print(f"{name} killed: {instance} serving again in {seconds:.1f} s; {failed}/{sent} requests failed, "
                  f"the last one sent {last:.1f} s after the kill")
        crash_loop(folder, load)
        a_person_restarts(folder)
        an_apply_recreates_the_group(folder)
        host_gone(folder)
    finally:
        load.stop()
    LINES.append("[faults] multi-node groups heal themselves under load (2 clients, two instances per role): "
                 + "; ".join(f"{k} killed -> serving again in {s:.1f} s, {f}/{n} requests failed (all sent within "
                             f"{w:.1f} s of the kill)" for k, (s, f, n, w) in figures.items()))


def crash_loop(folder: Path, load: Load) -> None:
    """decode-0's worker cannot start (its API port is taken): the group backs off; status says crash loop
    with that node's last log lines; once the port is free the group heals at the next try."""
    with socket.socket() as squatter:
        subprocess.run(["docker", "kill", engine("d1", "decode", 1)], check=True, capture_output=True, timeout=60)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):                                 # the killed engine's socket is gone at once
            try:
                squatter.bind((ADDRESS["d1"], 8087))
                break
            except OSError:
                time.sleep(0.1)
        squatter.listen()
        report = wait("crash loop", lambda r: recovery(r, "decode-0")["state"] == "crash loop", 90, folder)
        said = recovery(report, "decode-0")
        assert "failed starts in a row; " in said["detail"], said
        assert said["log_of"].startswith("decode-0-node-1 on d1 (exit "), said
        assert any("8087" in line for line in said["log"]), said["log"]
        text = run_cli("status", cwd=folder)
        assert text.returncode == 1 and "decode-0 is in a crash loop" in text.stderr, text.stderr
    wait("decode-0 healed after the crash loop", lambda r: r["status"] == "ok", 120, folder)


def a_person_restarts(folder: Path) -> None:
    """`pdcompose restart --instance decode-0` while its watchdogs run: they are held meanwhile and start
    again as after a deploy, so none of them stops the group the restart just started (seen on the lab
    before: the restarted master exited (0), stopped by its own watchdog)."""
    master, worker = engine("d0", "decode", 0), engine("d1", "decode", 1)
    done = run_cli("restart", "--instance", "decode-0", cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr
    started = started_at(master), started_at(worker)
    wait("decode-0 serving after the restart", lambda r: r["status"] == "ok"
         and recovery(r, "decode-0")["state"] == "serving", 60, folder)
    time.sleep(8)                          # several watchdog ticks: none of them touches the group
    assert (started_at(master), started_at(worker)) == started, "a watchdog restarted the group after a person did"
    report = status(folder)
    assert report["status"] == "ok" and recovery(report, "decode-0")["state"] == "serving"


def an_apply_recreates_the_group(folder: Path) -> None:
    """`apply` changes a flag of decode-0: the group is recreated whole with its watchdogs held, and stays
    up afterwards (the watchdogs come back with the new definition)."""
    topology = folder / "pdcompose.yaml"
    changed = TOPOLOGY.replace("{nodes: [d0, d1]}", "{nodes: [d0, d1], args: {max-num-seqs: 64}}")
    assert changed != TOPOLOGY
    topology.write_text(changed)
    done = run_cli("apply", "--allow-downtime", "--timeout", "120", cwd=folder, timeout=400)
    assert done.returncode == 0, done.stderr
    master, worker = engine("d0", "decode", 0), engine("d1", "decode", 1)
    started = started_at(master), started_at(worker)
    wait("decode-0 serving after apply", lambda r: r["status"] == "ok"
         and recovery(r, "decode-0")["state"] == "serving", 60, folder)
    time.sleep(8)
    assert (started_at(master), started_at(worker)) == started, "a watchdog restarted the group after apply"
    argv = subprocess.run(["docker", "inspect", "-f", "{{json .Config.Cmd}}", worker], capture_output=True,
                          text=True, timeout=60).stdout
    assert '"--max-num-seqs","64"' in argv.replace(" ", ""), argv
    assert run_cli("apply", "--dry-run", cwd=folder).returncode == 0


def host_gone(folder: Path) -> None:
    """d1's containers vanish with their daemon (container and watchdog removed): decode-0 stays down, waits
    for d1 and says so; its master is not started again and again."""
    for name in (engine("d1", "decode", 1), f"{engine('d1', 'decode', 1)[:-2]}-watchdog-1"):
        subprocess.run(["docker", "rm", "-f", name], check=True, capture_output=True, timeout=60)
    report = wait("decode-0 waits for d1", lambda r: recovery(r, "decode-0")["state"] == "waiting", 60, folder)
    assert "waiting for d1 (node 1)" in recovery(report, "decode-0")["detail"], report
    master = engine("d0", "decode", 0)
    first = started_at(master)
    time.sleep(10)
    assert started_at(master) == first, "the master flapped while its peer's host was gone"
    assert recovery(status(folder), "decode-0")["state"] == "waiting"
