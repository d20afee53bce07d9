"""Live progress of long operations: one timestamped line per change, on stderr.

Lines rather than a redrawn screen: the same output reads well in a terminal, a CI log and a file.
"""

from __future__ import annotations

import time

from pdcompose.cli import output
from pdcompose.deploy.health import Probe, Target


class LineReporter:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def _stamp(self) -> str:
        return f"[dim]{time.monotonic() - self.t0:7.1f}s[/]"

    def step(self, text: str) -> None:
        output.console(stderr=True).print(f"{self._stamp()} {output._escape(text)}")

    def target(self, target: Target, probe: Probe) -> None:
        mark = "[green]ready[/]" if probe.ok else "[yellow]waiting[/]"
        host, service = target
        output.console(stderr=True).print(
            f"{self._stamp()}   {host}/{service}: {mark} {output._escape(probe.detail)}")
