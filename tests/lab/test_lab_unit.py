"""The lab's pieces that need no root: its layout and names, moving a topology onto it, the slow-link relay,
pdcompose's SSH multiplexing wrapper and the diagnosis of an unreachable ssh:// context."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pdcompose.engine import sshmux
from pdcompose.engine.reach import _reason, fix_for
from pdcompose.lab.model import LabError, plan_lab
from pdcompose.lab.topology import moved, skeleton
from tests.helpers import EXAMPLE


def test_a_lab_lays_out_addresses_and_names_that_fit_interface_limits():
    lab = plan_lab("abcdef", 32, "198.19.7.0/24")
    assert [h.address for h in lab.hosts[:2]] == ["198.19.7.10", "198.19.7.11"]
    assert lab.hosts[31].address == "198.19.7.41" and lab.gateway == "198.19.7.1"
    names = [lab.bridge, lab.operator_veth, *(h.veth for h in lab.hosts)]
    assert max(len(n) for n in names) <= 15, names           # IFNAMSIZ - 1
    assert len({h.context for h in lab.hosts}) == 32
    assert len(lab.hosts[0].socket.removeprefix("unix://")) < 108


@pytest.mark.parametrize(("name", "count", "subnet", "words"), [
    ("Lab", 2, "198.19.7.0/24", "lowercase"), ("toolongname", 2, "198.19.7.0/24", "1 to 6"),
    ("lab", 0, "198.19.7.0/24", "1 to"), ("lab", 300, "198.19.7.0/24", "1 to"),
    ("lab", 2, "198.19.7.0/33", "--subnet"), ("lab", 40, "198.19.7.0/27", "too small"),
])
def test_a_bad_lab_is_refused_before_anything_is_made(name: str, count: int, subnet: str, words: str):
    with pytest.raises(LabError, match=words):
        plan_lab(name, count, subnet)


def test_two_labs_never_share_a_name_prefix():
    a, b = plan_lab("lab", 20), plan_lab("lab1", 3)
    # `down` of one finds the other's links and namespaces by prefix: they must not overlap
    assert not any(h.veth.startswith(f"pdlv{b.name}-") for h in a.hosts)
    assert not any(h.netns.startswith(f"pdlab-{a.name}-") for h in b.hosts)


def test_a_topology_moved_onto_a_lab_keeps_everything_but_addresses_nics_and_contexts(tmp_path: Path):
    lab = plan_lab("lab", 7)
    text = moved(lab, EXAMPLE)
    data, source = YAML().load(text), YAML().load(EXAMPLE.read_text())
    assert list(data["hosts"]) == list(source["hosts"])
    assert [h["address"] for h in data["hosts"].values()] == [h.address for h in lab.hosts]
    assert [h["context"] for h in data["hosts"].values()] == [h.context for h in lab.hosts]
    assert {h["interface"] for h in data["hosts"].values()} == {"eth0"}     # the lab hosts' NIC, for GLOO/NCCL/UCX
    assert data["hosts"]["gb200-n6"]["gpus"] == []
    assert data["rehearsal"]["enabled"] is True and data["rehearsal"]["addresses"] == "hosts"
    for key in ("prefill", "decode", "router", "recipe", "model", "defaults"):
        assert data[key] == source[key]
    assert "# the guide's tuned environment" in text          # the user's comments stay
    (tmp_path / "lab.yaml").write_text(text)
    done = subprocess.run([sys.executable, "-m", "pdcompose", "plan", "-f", str(tmp_path / "lab.yaml"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"198.19.0.16"' in done.stdout and "127.0.0." not in done.stdout
    assert '"GLOO_SOCKET_IFNAME": "eth0"' in done.stdout


def test_a_topology_with_more_hosts_than_the_lab_is_refused():
    with pytest.raises(LabError, match="7 hosts, lab 'lab' 3"):
        moved(plan_lab("lab", 3), EXAMPLE)


def test_the_skeleton_is_a_topology_fragment_naming_every_host():
    lab = plan_lab("lab", 3)
    data = YAML().load(skeleton(lab))
    assert data["hosts"] == {h.name: {"address": h.address, "context": h.context,
                                      "docker_socket": h.socket.removeprefix("unix://")} for h in lab.hosts}


def _echo_server() -> tuple[int, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)
        server.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


@pytest.mark.parametrize("delay_ms", [0, 80])
def test_the_relay_delays_each_direction_and_keeps_the_bytes_in_order(delay_ms: int):
    port, _ = _echo_server()
    relay = subprocess.Popen([sys.executable, "-m", "pdcompose.lab.relay", "--delay-ms", str(delay_ms),
                              "127.0.0.1", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert relay.stdin and relay.stdout
        payload = os.urandom(200_000)
        t0 = time.monotonic()
        relay.stdin.write(payload)
        relay.stdin.flush()
        got = b""
        while len(got) < len(payload):
            got += os.read(relay.stdout.fileno(), 65536)
        took = time.monotonic() - t0
        assert got == payload
        assert took >= 2 * delay_ms / 1000, took                # there and back
        relay.stdin.close()
        assert relay.wait(10) == 0
    finally:
        relay.kill()


def test_pdcompose_puts_a_multiplexing_ssh_first_on_its_path(monkeypatch: pytest.MonkeyPatch):
    tmp_path = Path(tempfile.mkdtemp(prefix="mux", dir="/tmp"))   # short: a ControlPath is a unix socket
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.delenv("PDCOMPOSE_SSH_MUX", raising=False)
    assert sshmux.enable()
    wrapper = tmp_path / "pdcompose" / "ssh-bin" / "ssh"
    assert os.environ["PATH"].split(os.pathsep)[0] == str(wrapper.parent)
    text = wrapper.read_text()
    assert "ControlMaster=auto" in text and "ControlPersist=" in text and "ServerAliveInterval" in text
    # It passes its arguments on to the real ssh: -G prints the configuration ssh would use, without connecting.
    shown = subprocess.run([str(wrapper), "-G", "root@198.19.0.10"], capture_output=True, text=True, timeout=10)
    assert shown.returncode == 0 and "controlmaster auto" in shown.stdout
    assert f"controlpath {tmp_path}/pdcompose/ssh-mux/" in shown.stdout
    assert sshmux.enable()                                       # twice: PATH gains it once
    assert os.environ["PATH"].split(os.pathsep).count(str(wrapper.parent)) == 1
    shutil.rmtree(tmp_path)


def test_a_cache_folder_too_long_for_a_control_socket_falls_back_to_tmp(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/" + "x" * 80)
    assert sshmux.control_path() == f"/tmp/pdcompose-{os.getuid()}/ssh-mux/%C"


def test_ssh_multiplexing_can_be_turned_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PDCOMPOSE_SSH_MUX", "0")
    monkeypatch.setenv("PATH", os.environ["PATH"])
    assert not sshmux.enable()


@pytest.mark.parametrize(("stderr", "reason", "fix"), [
    ("error during connect: Get \"http://docker.example.com/v1.41/version\": command [ssh -o ConnectTimeout=30 "
     "-T -l root -- 198.19.0.11 docker system dial-stdio] has exited with exit status 255, make sure the URL is "
     "valid, and Docker 18.09 or later is installed on the remote host: stderr=root@198.19.0.11: Permission "
     "denied (publickey).",
     "SSH refused the key", "authorized_keys"),
    ("Cannot connect to the Docker daemon at http://docker.example.com. Is the docker daemon running?",
     "no Docker daemon answers", "start the Docker daemon on d0"),
    ("ssh: connect to host 198.19.0.11 port 22: Connection refused", "nothing answers SSH", "start sshd"),
    ("ssh: connect to host 198.19.0.11 port 22: Connection timed out", "host down or unroutable",
     "check that d0 is up"),
])
def test_an_unreachable_ssh_context_says_why_and_the_fix(stderr: str, reason: str, fix: str):
    said = _reason("ctx", stderr)
    assert reason in said
    assert fix in fix_for("d0", "ctx", said)


def test_a_tcp_context_keeps_dockers_own_words_naming_its_address():
    said = _reason("ctx", "Cannot connect to the Docker daemon at tcp://127.0.0.1:9. Is the docker daemon running?")
    assert "tcp://127.0.0.1:9" in said and "SSH" not in said
