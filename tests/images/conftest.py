"""A second Docker daemon for the session, so `images push` really loads images somewhere.

Every context of a rehearsal points at the one local engine, which already has every image; a push
into it would only ever skip. This daemon has its own data-root (vfs: no overlay needed), exec-root,
socket, containerd and bridge, and no iptables rules.

Two traps, both met while writing this:
- `--bridge=none` makes dockerd DELETE the host's docker0 at start (moby removeDefaultBridgeInterface),
  breaking every bridge-network container and build of the main daemon. So the daemon gets a bridge of
  its own, created here and deleted afterwards.
- /etc/docker/daemon.json is read unless --config-file says otherwise, and settings given both there
  and as flags (data-root, storage-driver) make dockerd refuse to start.

Bounded waits; always stopped and cleaned (mounts, files, bridge). Without root or dockerd it skips
LOUDLY, except under CI=true, where not starting it fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def _skip_or_fail(reason: str) -> None:
    skip_or_fail(f"SECOND DOCKER DAEMON UNAVAILABLE, image loads are NOT tested: {reason}")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (dockerd, a bridge of its own)"
    for tool in ("dockerd", "ip", "umount"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH"
    return None


def _answers(sock: str) -> bool:
    try:
        done = subprocess.run(["docker", "-H", sock, "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _argv(root: Path, bridge: str) -> list[str]:
    (root / "daemon.json").write_text("{}\n")
    tag = root.name
    return ["dockerd", "--config-file", str(root / "daemon.json"), "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--pidfile", str(root / "dockerd.pid"),
            "-H", f"unix://{root}/docker.sock", "--bridge", bridge, "--iptables=false", "--ip-masq=false",
            "--ip-forward=false", "--storage-driver=vfs", "--containerd-namespace", tag,
            "--containerd-plugins-namespace", f"{tag}-plugins"]


def _stop(proc: subprocess.Popen, root: Path, bridge: str) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    # A killed dockerd leaves its containerd behind; it is ours if its command line names our root.
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmd and int(pid) != os.getpid():
            os.kill(int(pid), signal.SIGKILL)
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(str(root))]
    for mount in sorted(mounts, key=len, reverse=True):      # dockerd leaves its netns and data-root mounts
        subprocess.run(["umount", "-l", mount], capture_output=True, timeout=10)
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=10)


@pytest.fixture(scope="session")
def second_engine() -> Iterator[str]:
    """The endpoint (unix://...) of a Docker daemon of our own, empty at start."""
    reason = _why_not()
    if reason:
        _skip_or_fail(reason)
    root = Path(tempfile.mkdtemp(prefix="pdd-", dir="/tmp"))     # short: a unix socket path has 108 bytes
    bridge = f"pdt{uuid.uuid4().hex[:8]}"
    sock = f"unix://{root}/docker.sock"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True, timeout=10)
    subprocess.run(["ip", "addr", "add", f"198.18.{random.randint(1, 254)}.1/24", "dev", bridge], check=True,
                   timeout=10)
    log = (root / "dockerd.log").open("wb")
    proc = subprocess.Popen(_argv(root, bridge), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text(errors="replace").splitlines()[-15:]
                state = f"exited {proc.returncode}" if proc.poll() is not None else f"silent {START_TIMEOUT:.0f} s"
                _skip_or_fail(f"dockerd {state}:\n" + "\n".join(tail))
            time.sleep(0.25)
        yield sock
    finally:
        log.close()
        _stop(proc, root, bridge)


@contextlib.contextmanager
def one_file_image(kind: str, note: str) -> Iterator[str]:
    """A one-file image of the local engine's architecture (docker import), with content of its own so its
    ID is unique to the caller (and safe to delete); removed afterwards."""
    from python_on_whales import DockerClient, DockerException

    tag = f"pdcompose-test/{kind}:{uuid.uuid4().hex[:10]}"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        payload = f"{note} {tag}\n".encode()
        info = tarfile.TarInfo("payload")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    subprocess.run(["docker", "import", "-", tag], input=data.getvalue(), check=True, capture_output=True, timeout=60)
    try:
        yield tag
    finally:
        with contextlib.suppress(DockerException):
            DockerClient().image.remove(tag, force=True)
