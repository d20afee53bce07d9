"""One SSH connection per host, reused by every docker call through an ssh:// context.

The Docker CLI opens a new SSH connection for each call through an ssh:// context (a handshake of several
round trips: 0.28 s a call in the lab, more over a WAN) and has no per-context SSH options: it runs `ssh`
from PATH, which reads ~/.ssh/config. So pdcompose puts a small `ssh` in front of the system's on its
children's PATH that adds OpenSSH's own multiplexing (ControlMaster=auto, ControlPersist): the first call
to a host opens a master connection, the next ones ride on it (one round trip, no handshake).
ServerAlive options make a master to a lost host give up in seconds instead of holding every call.

PDCOMPOSE_SSH_MUX=0 turns it off (the user's ~/.ssh/config then decides alone).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PERSIST = "120"     # seconds a master outlives its last call: covers the gaps between pdcompose commands
ALIVE = ("-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2")


def _home() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pdcompose"
    # A ControlPath is a unix socket: 104 bytes at most, and %C adds 40.
    return base if len(str(base)) < 50 else Path(f"/tmp/pdcompose-{os.getuid()}")


def control_path() -> str:
    return str(_home() / "ssh-mux" / "%C")


def options() -> list[str]:
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_path()}", "-o", f"ControlPersist={PERSIST}",
            *ALIVE]


def _script(real: str) -> str:
    quoted = " ".join(f"'{o}'" for o in options())
    return ("#!/bin/sh\n# written by pdcompose (engine/sshmux.py): OpenSSH multiplexing for ssh:// Docker contexts\n"
            f"exec '{real}' {quoted} \"$@\"\n")


def enable() -> bool:
    """Put the multiplexing `ssh` first on this process's PATH (its children inherit it); False when off."""
    if os.environ.get("PDCOMPOSE_SSH_MUX", "1") == "0":
        return False
    folder = _home() / "ssh-bin"
    current = os.environ.get("PATH", "")
    if str(folder) in current.split(os.pathsep):
        return True
    real = shutil.which("ssh")
    if real is None:
        return False
    try:
        (_home() / "ssh-mux").mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(parents=True, exist_ok=True)
        wrapper = folder / "ssh"
        text = _script(real)
        if not wrapper.is_file() or wrapper.read_text() != text:
            tmp = folder / f".ssh.{os.getpid()}"
            tmp.write_text(text)
            tmp.chmod(0o755)
            tmp.replace(wrapper)
    except OSError:
        return False       # a read-only home: plain ssh, one connection per call, still correct
    os.environ["PATH"] = os.pathsep.join([str(folder), current])
    return True


def close_all(targets: list[str]) -> None:
    """Close the master connections to these `user@host`s (they reopen on the next call)."""
    real = shutil.which("ssh")
    if real is None:
        return
    for target in targets:
        try:
            subprocess.run([real, "-o", f"ControlPath={control_path()}", "-O", "exit", target],
                           capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            continue
