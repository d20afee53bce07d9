"""Each lab host's Docker daemon and OpenSSH server, started inside its network namespace.

A daemon started there (with the containerd it starts) puts its host-network containers in that
namespace: they bind the host's own address, so every lab host uses the guide's real ports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pdcompose.engine.cli import answers_at
from pdcompose.lab import net, system
from pdcompose.lab.model import Lab, LabError, LabHost

START_TIMEOUT = 60.0   # bounded: a daemon that has not answered by then is reported with its log's tail


def _sshd() -> str:
    return shutil.which("sshd") or "/usr/sbin/sshd"


def dockerd_argv(host: LabHost) -> list[str]:
    tag = host.cgroup_parent
    return ["dockerd", "--config-file", str(host.home / "daemon.json"), "--data-root", str(host.home / "data"),
            "--exec-root", str(host.run / "exec"), "--pidfile", str(host.run / "dockerd.pid"),
            "-H", host.socket, "--bridge", net.INNER_BRIDGE, "--iptables=false", "--ip-masq=false",
            "--ip-forward=false", "--storage-driver=fuse-overlayfs", "--containerd-namespace", tag,
            "--containerd-plugins-namespace", f"{tag}-plugins", "--cgroup-parent", tag]


def sshd_config(lab: Lab, host: LabHost) -> str:
    # MaxSessions: one multiplexed SSH connection carries every docker call to the host (OpenSSH's
    # default of 10 sessions per connection would refuse the 11th concurrent one).
    return "\n".join([
        f"ListenAddress {host.address}", "Port 22",
        f"HostKey {lab.home / 'ssh_host_ed25519_key'}", f"PidFile {host.run / 'sshd.pid'}",
        f"AuthorizedKeysFile {host.home / 'authorized_keys'}",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "StrictModes no", "MaxSessions 100", "MaxStartups 200:30:400", "LogLevel VERBOSE",
        # All lab hosts share one filesystem: the socket path is what makes `docker` on host i reach host i's daemon.
        f"SetEnv DOCKER_HOST={host.socket}", "",
    ])


def start(lab: Lab, host: LabHost) -> None:
    for folder in (host.home, host.run):
        folder.mkdir(parents=True, exist_ok=True)
    (host.home / "daemon.json").write_text("{}\n")    # so /etc/docker/daemon.json is not read as well
    (host.home / "sshd_config").write_text(sshd_config(lab, host))
    authorize(lab, host, True)
    Path("/run/sshd").mkdir(exist_ok=True)           # OpenSSH's privilege-separation folder
    if not _dockerd(host):
        (host.run / "dockerd.pid").unlink(missing_ok=True)   # a killed daemon's pidfile stops the next one
        _spawn(host, "dockerd", dockerd_argv(host))
    if not _sshd_of(host):
        _spawn(host, "sshd", [_sshd(), "-D", "-f", str(host.home / "sshd_config"), "-E", str(host.home / "sshd.log")])


def _spawn(host: LabHost, what: str, argv: list[str]) -> None:
    log = (host.home / f"{what}.out").open("ab")
    # A session of its own: the daemons outlive `lab up` and ignore the terminal's Ctrl-C.
    subprocess.Popen(system.in_netns(host.netns, argv), stdout=log, stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()


def end_sessions(host: LabHost) -> int:
    """Close the SSH connections the host's sshd holds (a multiplexed master would outlive a key change)."""
    # OpenSSH retitles its processes: sessions are "sshd: root@notty", the server itself "... [listener] ...".
    pids = [p for p in system.netns_pids(host.netns)
            if _cmdline(p).startswith("sshd:") and "[listener]" not in _cmdline(p)]
    for pid in pids:
        _kill(pid)
    return len(pids)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def authorize(lab: Lab, host: LabHost, allowed: bool) -> None:
    """Write (or empty) the host's authorized_keys: an empty one refuses the lab's key."""
    key = Path(f"{lab.key}.pub").read_text() if allowed else ""
    (host.home / "authorized_keys").write_text(key)


def wait_ready(host: LabHost, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _daemon_answers(host) and _port_open(host.address, 22):
            return
        time.sleep(0.3)
    tail = _tail(host.home / "dockerd.out") or _tail(host.home / "sshd.log")
    raise LabError(f"lab host {host.name} ({host.address}): its Docker daemon or sshd did not answer within "
                   f"{timeout:.0f} s; last log lines:\n{tail}")


def _daemon_answers(host: LabHost) -> bool:
    result = answers_at(host.socket, ["version", "--format", "{{.Server.Version}}"], timeout=5)
    return bool(result and result.ok)


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_daemon(host: LabHost) -> bool:
    """Stop only the host's dockerd (SSH still answers): `docker` there says it cannot connect."""
    pids = _dockerd(host)
    for pid in pids:
        _kill(pid)
    return bool(pids)


def kill_host(host: LabHost) -> int:
    """Everything on the host dies at once, as when it loses power: every process in its namespace
    (daemons, sshd, host-network containers) and in its containers' cgroups."""
    pids = set(system.netns_pids(host.netns)) | _cgroup_pids(host.cgroup_parent)
    pids |= _matching(lambda cmd: str(host.run) in cmd or str(host.home) in cmd or host.cgroup_parent in cmd)
    for pid in pids:
        _kill(pid)
    return len(pids)


def kill_lab(lab_name: str, netns: list[str]) -> int:
    from pdcompose.lab.model import RUN_ROOT, STATE_ROOT

    roots = (str(RUN_ROOT / lab_name) + "/", str(STATE_ROOT / lab_name) + "/", f"pdlab-{lab_name}-n")
    pids: set[int] = set()
    for name in netns:
        pids |= set(system.netns_pids(name))
    pids |= _matching(lambda cmd: any(r in cmd for r in roots))
    for group in _cgroup_groups(f"pdlab-{lab_name}-n"):
        pids |= _cgroup_pids(group)
    for pid in pids:
        _kill(pid)
    return len(pids)


def _kill(pid: int) -> None:
    if pid == os.getpid():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _matching(match: Callable[[str], bool]) -> set[int]:
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        cmd = _cmdline(int(pid))
        if cmd and match(cmd) and int(pid) != os.getpid():
            found.add(int(pid))
    return found


CGROUP_ROOT = Path("/sys/fs/cgroup")
# Where a container's cgroup (under the host's --cgroup-parent) can be: cgroup v1's controllers, or v2's root.
CONTROLLERS = (CGROUP_ROOT / "pids", CGROUP_ROOT / "memory", CGROUP_ROOT)


def _cgroup_groups(prefix: str) -> set[str]:
    names: set[str] = set()
    for controller in CONTROLLERS:
        if controller.is_dir():
            names |= {p.name for p in controller.glob(f"{prefix}*") if p.is_dir()}
    return names


def _cgroup_pids(group: str) -> set[int]:
    pids: set[int] = set()
    for controller in CONTROLLERS:
        folder = controller / group
        if not folder.is_dir():
            continue
        for procs in folder.rglob("cgroup.procs"):
            try:
                pids |= {int(p) for p in procs.read_text().split()}
            except OSError:
                continue
    return pids


def remove_cgroups(lab_name: str) -> None:
    """The cgroups the lab's daemons made under their --cgroup-parent, deepest first (once emptied)."""
    for group in _cgroup_groups(f"pdlab-{lab_name}-n"):
        for controller in CGROUP_ROOT.iterdir():
            folder = controller / group
            if not folder.is_dir():
                continue
            for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                folder.rmdir()


def memory_bytes(host: LabHost) -> int:
    """Resident memory of the host's daemons and containers (its namespace's processes), for the bench."""
    total = 0
    for pid in set(system.netns_pids(host.netns)) | _cgroup_pids(host.cgroup_parent):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total



def _dockerd(host: LabHost) -> set[int]:
    return _matching(lambda cmd: cmd.startswith("dockerd") and str(host.run) in cmd)


def _sshd_of(host: LabHost) -> set[int]:
    return _matching(lambda cmd: "sshd" in cmd and str(host.home / "sshd_config") in cmd)


def running(host: LabHost) -> bool:
    return bool(_dockerd(host) and _sshd_of(host))
