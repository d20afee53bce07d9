"""Progress of long operations, on stderr.

In a terminal: a live table, one row per container being waited for, updated in place, with phase
messages printed above it. Otherwise (CI logs, pipes, files): one timestamped line per change.
"""

from __future__ import annotations

import time
from typing import Any

from pdcompose.cli import output
from pdcompose.deploy.health import Probe, Target


class LineReporter:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def stamp(self) -> str:
        return f"[dim]{time.monotonic() - self.t0:7.1f}s[/]"

    def step(self, text: str) -> None:
        output.console(stderr=True).print(f"{self.stamp()} {output._escape(text)}")

    def target(self, target: Target, probe: Probe) -> None:
        mark = "[green]ready[/]" if probe.ok else "[yellow]waiting[/]"
        host, service = target
        output.console(stderr=True).print(
            f"{self.stamp()}   {host}/{service}: {mark} {output._escape(probe.detail)}")

    def __enter__(self) -> LineReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LiveReporter(LineReporter):
    def __init__(self) -> None:
        super().__init__()
        from rich.live import Live

        self.rows: dict[Target, tuple[Probe, float]] = {}
        self.live = Live(self._table(), console=output.console(stderr=True), refresh_per_second=4,
                         transient=False)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(show_edge=False, box=None, pad_edge=False)
        for column in ("host", "container", "state", "since", "detail"):
            table.add_column(column, no_wrap=column != "detail")
        for (host, service), (probe, since) in sorted(self.rows.items()):
            state = "[green]ready[/]" if probe.ok else "[yellow]waiting[/]"
            table.add_row(host, service, state, f"{since - self.t0:.1f}s", output._escape(probe.detail))
        return table

    def step(self, text: str) -> None:
        self.live.console.print(f"{self.stamp()} {output._escape(text)}")

    def target(self, target: Target, probe: Probe) -> None:
        self.rows[target] = (probe, time.monotonic())
        self.live.update(self._table())

    def __enter__(self) -> LiveReporter:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()


def reporter() -> LineReporter:
    """The live table in a terminal, lines elsewhere."""
    return LiveReporter() if output.console(stderr=True).is_terminal else LineReporter()
