"""Progress of long operations on stderr: the one reporter of deploy, restart, down, images push and bench.

`reporter()` picks the rendering. In a terminal: steps printed above one live area that is redrawn in
place, holding what is in flight (a row per container being waited for, a bar per image transfer, a
bench's request counter and current rates). Elsewhere (CI logs, pipes, files): one timestamped line per
change, a transfer's progress every quarter, and nothing for a bench's requests (its table follows).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from pdcompose.cli import output

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from pdcompose.bench.client import Progress as BenchProgress
    from pdcompose.deploy.health import Probe, Target


class LineReporter:
    """Every change as one timestamped line: pdcompose.progress.Reporter, the one progress interface of
    deploy, restart, down (step, target), images push (step, start, advance, finish) and bench (requests)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or output.console(stderr=True)
        self.t0 = time.monotonic()
        self._totals: dict[str, tuple[int, int, int]] = {}    # transfer key -> (done, total, next quarter)
        self._began: dict[str, float] = {}                     # transfer key -> when it started (rate, ETA)
        self._lock = threading.Lock()                          # push advances from one thread per host

    def __enter__(self) -> LineReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def stamp(self) -> str:
        return f"[dim]{time.monotonic() - self.t0:7.1f}s[/]"

    def step(self, text: str) -> None:
        self.console.print(f"{self.stamp()} {output._escape(text)}")

    def target(self, target: Target, probe: Probe) -> None:
        mark = "[green]ready[/]" if probe.ok else "[yellow]waiting[/]"
        host, service = target
        self.console.print(f"{self.stamp()}   {host}/{service}: {mark} {output._escape(probe.detail)}")

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            self._totals[key] = (0, total, 1)
            self._began[key] = time.monotonic()
        self.step(f"{label}: loading {total / 1e6:.0f} MB")

    def advance(self, key: str, size: int) -> None:
        with self._lock:
            done, total, quarter = self._totals[key]
            done += size
            crossed = total > 0 and quarter < 4 and done >= total * quarter / 4
            self._totals[key] = (done, total, quarter + 1 if crossed else quarter)
        if crossed:
            self.step(f"{key}: {25 * quarter}% sent{self._pace(key, done, total)}")

    def _pace(self, key: str, done: int, total: int) -> str:
        """`, 12.3 MB/s, ETA 40 s` for a transfer so far (nothing before a measurable interval)."""
        spent = time.monotonic() - self._began.get(key, time.monotonic())
        if spent <= 0.05 or done <= 0:
            return ""
        rate = done / spent
        return f", {rate / 1e6:.1f} MB/s, ETA {max(total - done, 0) / rate:.0f} s"

    def finish(self, key: str, note: str) -> None:
        self.step(f"{key}: {note}")

    def requests(self, p: BenchProgress) -> None:
        return None


class LiveReporter(LineReporter):
    """The terminal rendering: steps print above a live area that rich redraws four times a second."""

    WINDOW = 5.0          # seconds a bench's current rates are measured over
    MIN_INTERVAL = 0.1    # seconds between two bench updates (it calls back once per request)

    def __init__(self, console: Console | None = None, label: str = "bench") -> None:
        super().__init__(console)
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.label = label
        self.rows: dict[Target, tuple[Probe, float]] = {}
        # rich Progress objects used as renderables inside our Live (never started themselves)
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=self.console)
        self.bench = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[rates]}"), TimeElapsedColumn(), console=self.console)
        self._tasks: dict[str, Any] = {}
        self._bench_task: Any = None
        self._window: deque[tuple[float, int, int]] = deque([(time.monotonic(), 0, 0)])
        self._last = 0.0
        self.live = Live(console=self.console, get_renderable=self._view, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveReporter:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def _view(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table

        parts: list[RenderableType] = []
        if self.rows:
            table = Table(show_edge=False, box=None, pad_edge=False)
            for column in ("host", "container", "state", "since", "detail"):
                table.add_column(column, no_wrap=column != "detail")
            for (host, service), (probe, since) in sorted(self.rows.items()):
                state = "[green]ready[/]" if probe.ok else "[yellow]waiting[/]"
                table.add_row(host, service, state, f"{since - self.t0:.1f}s", output._escape(probe.detail))
            parts.append(table)
        if self._tasks:
            parts.append(self.bars)
        if self._bench_task is not None:
            parts.append(self.bench)
        return Group(*parts)

    def step(self, text: str) -> None:
        self.live.console.print(f"{self.stamp()} {output._escape(text)}")

    def target(self, target: Target, probe: Probe) -> None:
        self.rows[target] = (probe, time.monotonic())

    def start(self, key: str, label: str, total: int) -> None:
        self._tasks[key] = self.bars.add_task(output._escape(label), total=total)

    def advance(self, key: str, size: int) -> None:
        self.bars.advance(self._tasks[key], size)

    def finish(self, key: str, note: str) -> None:
        task = self._tasks[key]
        self.bars.update(task, description=f"{self.bars.tasks[task].description} [green]{output._escape(note)}[/]")

    def requests(self, p: BenchProgress) -> None:
        now = time.monotonic()
        if now - self._last < self.MIN_INTERVAL and p.done != p.total:
            return
        self._last = now
        if self._bench_task is None:
            self._bench_task = self.bench.add_task(output._escape(self.label), total=None, rates="")
        rps, tps = self.rates(now, p.done, p.output_tokens)
        failed = f"[red]{p.failed} failed[/] " if p.failed else ""
        self.bench.update(self._bench_task, total=p.total, completed=p.done,
                          rates=f"{failed}{rps:.1f} req/s {tps:.0f} tok/s")

    def rates(self, now: float, done: int, tokens: int) -> tuple[float, float]:
        """(requests/s, output tokens/s) since the oldest sample of the window."""
        self._window.append((now, done, tokens))
        while len(self._window) > 2 and now - self._window[1][0] >= self.WINDOW:
            self._window.popleft()
        t0, d0, k0 = self._window[0]
        span = now - t0
        return ((done - d0) / span, (tokens - k0) / span) if span > 0 else (0.0, 0.0)


def reporter(label: str = "bench", console: Console | None = None) -> LineReporter:
    """The live area in a terminal, lines elsewhere. `label` names a bench's request counter."""
    console = console or output.console(stderr=True)
    return LiveReporter(console, label) if console.is_terminal else LineReporter(console)
