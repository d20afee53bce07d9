"""Which commit, machine and date produced a `make bench` run: recorded beside its figures, so a figure
quoted in the README can be traced to the code and the hardware that measured it."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.common import REPO

FIELDS = ("commit", "dirty", "date", "machine")
MACHINE_FIELDS = ("cpu_count", "cpu_model", "memory_bytes", "docker", "os")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        cpuinfo = []
    for line in cpuinfo:
        if line.startswith(("model name", "Hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _docker() -> str:
    try:
        out = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def collect() -> dict[str, Any]:
    """This checkout's commit (and whether it had uncommitted changes), now, and this machine."""
    return {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain")),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {"cpu_count": os.cpu_count() or 0, "cpu_model": _cpu_model(),
                        "memory_bytes": _memory_bytes(), "docker": _docker(),
                        "os": f"{platform.system()} {platform.release()}"}}


def missing(record: dict[str, Any]) -> list[str]:
    """The provenance fields a record lacks or leaves empty (an empty list: complete)."""
    prov = record.get("provenance")
    if not isinstance(prov, dict):
        return ["provenance"]
    out = [f for f in FIELDS if prov.get(f) in (None, "", {})]
    machine = prov.get("machine") if isinstance(prov.get("machine"), dict) else {}
    out += [f"machine.{f}" for f in MACHINE_FIELDS if machine.get(f) in (None, "", 0)]
    return out


def line(prov: dict[str, Any]) -> str:
    """One sentence for the README: `Run of commit abc1234 on 2026-11-29: 2 CPUs (AMD EPYC), 23.5 GiB, ...`."""
    m = prov["machine"]
    dirty = " with uncommitted changes" if prov["dirty"] else ""
    after = " (provenance reconstructed after the run: benchmarks/figures.json says how)" \
        if prov.get("reconstructed") else ""
    return (f"Run of commit `{prov['commit'][:12]}`{dirty} on {prov['date'][:10]}: {m['cpu_count']} CPUs "
            f"({m['cpu_model']}), {m['memory_bytes'] / 2**30:.1f} GiB of memory, Docker Engine {m['docker']}, "
            f"{m['os']}{after}.")
