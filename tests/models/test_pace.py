"""A transfer's quarter lines carry its rate and the time left (models push, images push): measured from the
transfer's start, so the ETA falls as the bytes arrive at a steady rate."""

from __future__ import annotations

import io

from rich.console import Console

from pdcompose.cli import progress as cli_progress


def test_quarter_lines_give_rate_and_eta(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(cli_progress.time, "monotonic", lambda: now[0])
    log = io.StringIO()
    reporter = cli_progress.LineReporter(Console(file=log, force_terminal=False, width=200))
    reporter.start("h1", "h1: org/tiny@abc", 400_000_000)
    for _ in range(3):
        now[0] += 2.0                    # 100 MB every 2 s: 50 MB/s
        reporter.advance("h1", 100_000_000)
    lines = [line.split("s ", 1)[1].strip() for line in log.getvalue().splitlines()]
    assert lines[1:] == ["h1: 25% sent, 50.0 MB/s, ETA 6 s", "h1: 50% sent, 50.0 MB/s, ETA 4 s",
                         "h1: 75% sent, 50.0 MB/s, ETA 2 s"]
