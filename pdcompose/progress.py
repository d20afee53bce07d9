"""The one progress interface of pdcompose's long operations: deploy, restart and down say their steps and
each health target's probe, images push its transfers, bench its request counts. cli/progress.py renders
it (a live area in a terminal, timestamped lines elsewhere); tests record it. `Silent` says nothing: the
base of a reporter that only keeps part of what it is told."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pdcompose.bench.client import Progress as Requests
    from pdcompose.deploy.health import Probe, Target


@runtime_checkable
class Reporter(Protocol):
    def step(self, text: str) -> None: ...
    def target(self, target: Target, probe: Probe) -> None: ...          # a health target's latest probe
    def start(self, key: str, label: str, total: int) -> None: ...        # a transfer of `total` bytes begins
    def advance(self, key: str, size: int) -> None: ...                   # ... `size` more bytes sent
    def finish(self, key: str, note: str) -> None: ...                    # ... done
    def requests(self, p: Requests) -> None: ...                          # a bench's requests so far


class Silent:
    def step(self, text: str) -> None:
        return None

    def target(self, target: Target, probe: Probe) -> None:
        return None

    def start(self, key: str, label: str, total: int) -> None:
        return None

    def advance(self, key: str, size: int) -> None:
        return None

    def finish(self, key: str, note: str) -> None:
        return None

    def requests(self, p: Requests) -> None:
        return None
