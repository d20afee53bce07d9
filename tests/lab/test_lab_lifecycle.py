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


def test_a_seeded_image_is_in_every_hosts_store_as_links_to_this_machines_layers():
    """`lab up --seed`: the real-engine image (13 GB) on several hosts without a copy. The hosts report the
    image's own ID and run it; its files are the machine's own (one inode, more links); `lab down` leaves
    the machine's image whole."""
    ref = "pdcompose/mock-vllm:0.1.0"
    with lab_of("sd", 2, "198.19.11.0/24", seed=(ref,)) as lab:       # (builds the image first if need be)
        image_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True,
                                  text=True, check=True, timeout=60).stdout.strip()
        for host in lab.hosts:
            assert host_docker(lab, host.name, "image", "inspect", "-f", "{{.Id}}", ref).stdout.strip() == image_id
            ran = host_docker(lab, host.name, "run", "--rm", "--entrypoint", "python3", ref, "-c", "print(6 * 7)")
            assert ran.stdout.strip() == "42", ran.stderr
        layers = lab.hosts[0].home / "data" / "fuse-overlayfs"
        files = [f for f in layers.glob("*/diff/opt/venv/lib/python3.11/site-packages/*/__init__.py")][:20]
        assert files and all(f.stat().st_nlink >= 3 for f in files)    # the machine's, n0's and n1's names
    ran = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python3", ref, "-c", "print(6 * 7)"],
                         capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip() == "42", ran.stderr


def test_seeding_refuses_an_image_this_machine_lacks_before_making_anything():
    if why_not():
        skip_or_fail(why_not() or "")
    refused = pdc("lab", "up", "1", "--name", "sx", "--subnet", "198.19.12.0/24", "--seed", "pdcompose/nothing:0",
                  ok=False)
    assert "cannot seed pdcompose/nothing:0: not in this machine's store" in refused.stderr
    assert not leftovers("sx"), leftovers("sx")
