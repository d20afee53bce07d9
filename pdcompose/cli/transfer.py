"""Progress of image transfers: rich progress bars on a terminal, plain timestamped lines otherwise
(CI logs and files read better without redrawn screens)."""

from __future__ import annotations

import threading
import time
from typing import Any

from pdcompose.cli import output


class LineProgress:
    """One line per step and per host/image at start and end, plus one every 25% of a large load."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self._totals: dict[str, tuple[int, int, int]] = {}    # key -> (done, total, next quarter)
        self._lock = threading.Lock()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _say(self, text: str) -> None:
        output.console(stderr=True).print(f"[dim]{time.monotonic() - self.t0:7.1f}s[/] {output._escape(text)}")

    def step(self, text: str) -> None:
        self._say(text)

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            self._totals[key] = (0, total, 1)
        self._say(f"{label}: loading {total / 1e6:.0f} MB")

    def advance(self, key: str, size: int) -> None:
        with self._lock:
            done, total, quarter = self._totals[key]
            done += size
            crossed = total > 0 and quarter < 4 and done >= total * quarter / 4
            self._totals[key] = (done, total, quarter + 1 if crossed else quarter)
        if crossed:
            self._say(f"{key}: {25 * quarter}% sent")

    def finish(self, key: str, note: str) -> None:
        self._say(f"{key}: {note}")


class BarProgress(LineProgress):
    """rich bars, one per host/image; steps print above them."""

    def __init__(self) -> None:
        super().__init__()
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                             TimeElapsedColumn(), console=output.console(stderr=True), transient=False)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> BarProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def step(self, text: str) -> None:
        self.bars.console.print(f"[dim]{time.monotonic() - self.t0:7.1f}s[/] {output._escape(text)}")

    def start(self, key: str, label: str, total: int) -> None:
        self._tasks[key] = self.bars.add_task(output._escape(label), total=total)

    def advance(self, key: str, size: int) -> None:
        self.bars.advance(self._tasks[key], size)

    def finish(self, key: str, note: str) -> None:
        task = self._tasks[key]
        self.bars.update(task, description=f"{self.bars.tasks[task].description} [green]{output._escape(note)}[/]")


def transfer_progress() -> Any:
    """A context manager yielding the right reporter for stderr."""
    return BarProgress() if output.console(stderr=True).is_terminal else LineProgress()
