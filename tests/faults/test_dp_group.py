"""recovery: manual. A multi-node decode group loses a node: its group watchdog takes the survivor out of
service too (so the router stops sending it requests that would fail), nothing restarts by itself (no restart
loop), `status` names the broken group and its fix, and `restart` of that one node restarts the whole group,
master first, back to healthy. (recovery: auto, the default: tests/faults/test_group_recovery.py.)"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.conftest import leftover_containers
from tests.figures import LINES
from tests.helpers import run_cli
from tests.topologies import pd_topology

pytestmark = pytest.mark.docker

CLUSTER = "faults-dpgroup"
TOPOLOGY = pd_topology(CLUSTER, first="127.0.14.10", decodes=[("d0", "d1")],   # a 2-node decode group
                       extra="recovery: manual\n")
MASTER, WORKER = f"{CLUSTER}-d0-decode-0-node-0-1", f"{CLUSTER}-d1-decode-0-node-1-1"


@pytest.fixture
def folder(tmp_path: Path):
    (tmp_path / "pdcompose.yaml").write_text(TOPOLOGY)
    yield tmp_path
    run_cli("down", cwd=tmp_path, timeout=300)
    for cid in leftover_containers(CLUSTER):
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)


def inspect(name: str) -> dict:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)[0]


def status_until(folder: Path, ok: bool, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        result = run_cli("status", "--json", cwd=folder)
        report = json.loads(result.stdout)
        if (report["status"] == "ok") == ok or time.monotonic() > deadline:
            return report
        time.sleep(1)


def test_a_lost_node_is_named_and_restart_brings_the_whole_group_back(folder: Path):
    deployed = run_cli("deploy", "--timeout", "120", cwd=folder)
    assert deployed.returncode == 0, deployed.stderr
    assert inspect(WORKER)["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert inspect(f"{CLUSTER}-p-prefill-0-node-0-1")["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"

    subprocess.run(["docker", "kill", WORKER], check=True, capture_output=True, timeout=60)
    report = status_until(folder, ok=False)
    assert [g["instance"] for g in report["broken_groups"]] == ["decode-0"], report
    assert report["broken_groups"][0]["fix"] == "pdcompose restart --instance decode-0"
    deadline = time.monotonic() + 30                       # the master's watchdog takes it out of service
    while inspect(MASTER)["State"]["Status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)                                          # and nothing brings either back by itself
    assert inspect(WORKER)["State"]["Status"] == "exited" and inspect(WORKER)["RestartCount"] == 0
    assert inspect(MASTER)["State"]["Status"] == "exited" and inspect(MASTER)["RestartCount"] == 0
    text = run_cli("status", cwd=folder)
    assert text.returncode == 1
    said = " ".join(text.stderr.split())
    assert "decode-0 is a broken DP group: decode-0-node-0 on d0 is exited (" in said, said
    assert "decode-0-node-1 on d1 is exited (137) while no node runs" in said, said
    assert "decode-0 is out of service (recovery: manual): run `pdcompose restart --instance decode-0`" in said

    master_before = inspect(MASTER)["State"]["StartedAt"]
    restarted = run_cli("restart", "--context", "d1", cwd=folder, timeout=300)   # one node of the group
    assert restarted.returncode == 0, restarted.stderr
    said = " ".join((restarted.stdout + restarted.stderr).split())
    assert "decode-0 is one multi-node DP group: restarting all 2 of its nodes" in said, said
    master, worker = inspect(MASTER)["State"], inspect(WORKER)["State"]
    assert master["StartedAt"] > master_before and master["StartedAt"] <= worker["StartedAt"]   # master first
    report = status_until(folder, ok=True)
    assert report["status"] == "ok" and report["broken_groups"] == [], report
    LINES.append("[faults] recovery: manual: a node of a 2-node decode DP group killed: the survivor taken out, "
                 "both stayed down, named by status as a broken group, restarted whole (master first) by "
                 "restarting that one node")
