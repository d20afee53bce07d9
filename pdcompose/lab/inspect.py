"""What each lab host is doing, read on this machine (no SSH): for `lab status` and the benchmarks."""

from __future__ import annotations

from typing import Any

from pdcompose.engine.cli import answers_at
from pdcompose.lab import daemons, system
from pdcompose.lab.model import Lab, LabHost


def host_states(lab: Lab) -> list[dict[str, Any]]:
    return [_state(h) for h in lab.hosts]


def _state(host: LabHost) -> dict[str, Any]:
    link = system.run(["ip", "-o", "link", "show", host.veth], check=False)
    done = answers_at(host.socket, ["ps", "-q"], timeout=5)
    daemon = bool(done and done.ok)
    containers = len(done.stdout.split()) if done and done.ok else 0
    return {"name": host.name, "address": host.address, "context": host.context,
            "daemon": "up" if daemon else "down", "ssh": "up" if daemons._sshd_of(host) else "down",
            "link": "up" if "state UP" in link or "LOWER_UP" in link else "down",
            "containers": containers, "memory_mb": daemons.memory_bytes(host) // 2**20}


def ssh_connections(lab: Lab) -> dict[str, int]:
    """SSH connections each host's sshd has accepted so far (its log, LogLevel VERBOSE)."""
    counts = {}
    for host in lab.hosts:
        try:
            text = (host.home / "sshd.log").read_text(errors="replace")
        except OSError:
            text = ""
        counts[host.name] = text.count("Accepted publickey")
    return counts
