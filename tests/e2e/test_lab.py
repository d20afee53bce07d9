"""`make e2e`: the guide's whole deployment on a lab of 7 real Docker hosts, from an operator that reaches
them ONLY over SSH, then the host-level faults an operator meets on real hosts.

Each lab host has its own Docker daemon (its own, empty image store), its own network namespace and
address (198.19.1.x, on a bridge the lab made), and sshd; its Docker context is ssh://root@<address>.
The operator is another namespace on that network whose packets to the hosts are rejected except on
port 22. Every figure printed here comes from this run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pdcompose.lab.inspect import ssh_connections
from pdcompose.lab.model import Lab
from tests.figures import LINES
from tests.helpers import EXAMPLE
from tests.lab.kit import containers_on, host_docker, lab_of, moved, on_operator, op

pytestmark = pytest.mark.e2e
LAB = "e2e"
SUBNET = "198.19.1.0/24"
HOSTS = [f"gb200-n{i}" for i in range(7)]
ROUTER = "198.19.1.16:8123"


@pytest.fixture(scope="module")
def lab() -> Lab:
    with lab_of(LAB, 7, SUBNET) as made:
        yield made


@pytest.fixture(scope="module")
def topology(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return moved(lab, EXAMPLE, tmp_path_factory.mktemp("lab"))


def images_on(lab: Lab) -> dict[str, list[str]]:
    return {h.name: host_docker(lab, h.name, "images", "-q").stdout.split() for h in lab.hosts}


def connections_during(lab: Lab, fn) -> tuple[object, dict[str, int]]:  # noqa: ANN001
    before = ssh_connections(lab)
    result = fn()
    after = ssh_connections(lab)
    return result, {h: after[h] - before[h] for h in after}


def test_the_guide_on_seven_hosts_over_ssh_only(lab: Lab, topology: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(topology.parent)
    assert images_on(lab) == {h.name: [] for h in lab.hosts}, "a lab host starts with an empty image store"
    # The operator cannot open a worker's or the router's port: only SSH goes through.
    refused = on_operator(lab, "python3", "-c", f"import socket; socket.create_connection(('{lab.hosts[0].address}', "
                       "22), 3); socket.create_connection(('198.19.1.10', 8087), 3)", ok=False)
    assert "ConnectionRefusedError" in refused.stderr, refused.stderr

    pushed = op(lab, topology, "images", "push", "--loadgen", timeout=900)
    assert "0 already there" in pushed.stdout, pushed.stdout
    assert all(images_on(lab).values()), images_on(lab)

    doctor = json.loads(op(lab, topology, "doctor", "--json").stdout)
    assert doctor["status"] == "ok", doctor
    # `lab topology` names each host's NIC, eth0, which carries its address (the router's host names none).
    nics = {c["host"]: c["status"] for c in doctor["checks"] if c["check"] == "interface"}
    assert nics == {**dict.fromkeys(HOSTS[:6], "pass"), HOSTS[6]: "skip"}, nics

    t0 = time.monotonic()
    deploy = json.loads(op(lab, topology, "deploy", "--json").stdout)
    LINES.append(f"lab: the guide (7 hosts, mock) deployed over SSH in {time.monotonic() - t0:.1f} s")
    assert deploy["status"] == "ok" and deploy["smoke"].startswith("200"), deploy
    assert deploy["access"] == dict.fromkeys(HOSTS, "context"), deploy["access"]

    status, opened = connections_during(lab, lambda: json.loads(op(lab, topology, "status", "--json").stdout))
    assert status["status"] == "ok" and len(status["containers"]) == 7 + 6, status      # + the group watchdogs
    assert {r["state"] for r in status["recovery"]} == {"serving"}, status["recovery"]
    assert all(c["state"] == "running" and c["endpoint"] == "200" for c in status["containers"])
    # One SSH connection per host at most (pdcompose multiplexes every docker call to a host over one).
    LINES.append(f"lab: SSH connections opened by one `status` of 7 hosts: {sum(opened.values())} "
           f"(masters kept from the previous command: {opened})")
    assert max(opened.values()) <= 1, opened

    # The router on n6 reaches every worker at its own host's address (cross-host), and pairs each request.
    bench = json.loads(op(lab, topology, "bench", "-n", "120", "--max-concurrency", "16", "--input-len", "64",
                          "--output-len", "8", "--json").stdout)
    assert bench["metrics"]["completed"] == 120 and bench["metrics"]["failed"] == 0, bench["metrics"]
    assert bench["pairing"]["paired"] == 120, bench["pairing"]

    top = json.loads(op(lab, topology, "top", "--once", "--json").stdout)
    assert len(top["rows"]) == 7 and all(r["up"] for r in top["rows"]), top
    logs = op(lab, topology, "logs", "--role", "router", "--tail", "20")
    assert "198.19.1.14:8087" in logs.stdout        # the router's own words: workers at the lab's addresses

    restarted = op(lab, topology, "restart", "--instance", "decode-0")
    assert "restarted" in restarted.stdout, restarted.stdout
    op(lab, topology, "down")
    assert containers_on(lab) == {h.name: [] for h in lab.hosts}, containers_on(lab)
