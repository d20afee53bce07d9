"""A lab's life on this machine (root, dockerd, sshd): separate hosts that bind their own addresses on the same
ports, faults that cut and heal, and a `down` that leaves nothing, also after `up` was killed halfway."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from tests.lab.kit import PDC, host_docker, lab_of, leftovers, pdc, skip_or_fail, why_not

pytestmark = pytest.mark.docker
IMAGE = "pdcompose/base:bookworm"


def _answers(address: str, port: int, netns: str | None = None) -> bool:
    if netns is None:
        try:
            with socket.create_connection((address, port), timeout=2):
                return True
        except OSError:
            return False
    probe = f"import socket; socket.create_connection(('{address}', {port}), 2)"
    return subprocess.run(["nsenter", f"--net=/var/run/netns/{netns}", "python3", "-c", probe],
                          capture_output=True, timeout=30).returncode == 0


def test_hosts_are_separate_engines_on_their_own_addresses_and_faults_cut_and_heal():
    with lab_of("lc", 2, "198.19.10.0/24") as lab:
        n0, n1 = lab.hosts
        assert pdc("lab", "up", "2", "--name", "lc", ok=False).stderr.count("already up") == 1
        saved = subprocess.run(["docker", "save", IMAGE], capture_output=True, check=True, timeout=300).stdout
        for host in (n0, n1):                      # each host's store is its own: loaded once per host
            assert host_docker(lab, host.name, "images", "-q").stdout.strip() == ""
            subprocess.run(["docker", "-H", host.socket, "load"], input=saved, capture_output=True, check=True,
                           timeout=300)
            server = ["run", "-d", "--network", "host", IMAGE, "python3", "-m", "http.server", "8087"]
            assert host_docker(lab, host.name, *server).returncode == 0
        deadline = time.monotonic() + 60
        while not (_answers(n0.address, 8087) and _answers(n1.address, 8087)) and time.monotonic() < deadline:
            time.sleep(0.5)
        # Both bind port 8087, each on its own address (host networking in its own namespace), not this machine's
        assert _answers(n0.address, 8087) and _answers(n1.address, 8087)
        assert not _answers("127.0.0.1", 8087)
        assert _answers(n1.address, 8087, netns=n0.netns)                   # host to host over the lab's bridge

        pdc("lab", "fault", "partition", "n0", "n1", "--name", "lc")
        assert not _answers(n1.address, 8087, netns=n0.netns)
        assert _answers(n1.address, 8087)                                     # the others still reach it
        pdc("lab", "fault", "heal", "--name", "lc")
        assert _answers(n1.address, 8087, netns=n0.netns)

        lost = pdc("lab", "fault", "lose", "n1", "--name", "lc").stdout
        assert "link down" in lost and not _answers(n1.address, 8087)
        status = pdc("lab", "status", "--name", "lc", "--json").stdout
        assert '"daemon": "down"' in status and '"link": "down"' in status
        pdc("lab", "fault", "heal", "n1", "--name", "lc", timeout=180)
        assert host_docker(lab, "n1", "version").returncode == 0
        # its image store survived the power cut (a disk, not memory)
        assert host_docker(lab, "n1", "images", "-q").stdout.strip()


def test_down_cleans_up_after_up_was_killed_halfway():
    reason = why_not()
    if reason:
        skip_or_fail(reason)
    pdc("lab", "down", "--name", "lck", timeout=120)
    up = subprocess.Popen([*PDC, "lab", "up", "3", "--name", "lck", "--subnet", "198.19.11.0/24"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.5)                               # bridge, namespaces, daemons on their way
    os.killpg(up.pid, signal.SIGKILL)
    up.wait(10)
    assert leftovers("lck"), "the killed `lab up` made nothing: the test proves nothing"
    said = pdc("lab", "down", "--name", "lck", timeout=300).stdout
    assert "removed" in said
    assert leftovers("lck") == []
    assert "nothing" in pdc("lab", "down", "--name", "lck", timeout=120).stdout
