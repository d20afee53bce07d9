"""The system commands the lab runs (iproute2, nsenter, iptables), each bounded in time.

iproute2 and iptables are called as commands rather than through a netlink library: they are what an
operator reads and types, so every step the lab takes can be replayed and debugged by hand.
"""

from __future__ import annotations

import shutil
import subprocess

from pdcompose.lab.model import LabError

TOOLS = {
    "ip": "iproute2", "nsenter": "util-linux", "dockerd": "docker.io", "sshd": "openssh-server",
    "ssh": "openssh-client", "ssh-keygen": "openssh-client", "iptables": "iptables",
    "fuse-overlayfs": "fuse-overlayfs",
}


def missing_tools() -> list[str]:
    """Debian package names for the tools this machine lacks."""
    return sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None
                   and not (tool == "sshd" and shutil.which("/usr/sbin/sshd"))})


def in_netns(netns: str | None, argv: list[str]) -> list[str]:
    """`nsenter --net` enters only the network namespace; `ip netns exec` would also remount /sys, where
    dockerd then fails ("Devices cgroup isn't mounted")."""
    return argv if netns is None else ["nsenter", f"--net=/var/run/netns/{netns}", "--", *argv]


def run(argv: list[str], netns: str | None = None, check: bool = True, timeout: float = 30) -> str:
    full = in_netns(netns, argv)
    try:
        done = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(full)}` did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise LabError(f"`{full[0]}` is not installed (Debian: apt-get install {TOOLS.get(full[0], full[0])})") \
            from None
    if check and done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"`{' '.join(full)}` failed (exit {done.returncode}): {last[-1] if last else 'no output'}")
    return done.stdout


def quiet(argv: list[str], netns: str | None = None) -> bool:
    """Run a cleanup step whose failure only means there was nothing to clean."""
    try:
        run(argv, netns, check=True, timeout=20)
    except LabError:
        return False
    return True


def netns_list() -> list[str]:
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(netns: str) -> list[int]:
    out = run(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in out.split() if p.isdigit()]
