"""Shared by the benchmarks: whole-process timing with medians, and result records."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PDCOMPOSE = [sys.executable, "-m", "pdcompose"]


@dataclass
class Figure:
    section: str
    name: str
    value: float | int | str
    unit: str = ""
    target: str = ""
    met: bool | None = None
    runs: list[float] = field(default_factory=list)


def time_process(argv: list[str], runs: int = 7, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> list[float]:
    """Wall-clock seconds of whole processes (interpreter start included), one per run; fails loudly."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr[-2000:]}")
    return times


def peak_process(argv: list[str]) -> float:
    """Peak resident memory (MiB) of one whole run of `argv`: the kernel's own figure for that process
    (os.wait4's ru_maxrss, KiB on Linux), not the largest of every child this benchmark started."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {stderr.decode(errors='replace')[-2000:]}")
    return usage.ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)
