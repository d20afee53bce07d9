"""`pdcompose logs`: the logs of many containers on many hosts as one stream.

Without --follow, every container's tail is fetched with Docker's timestamps and merged in time
order. With --follow, one thread per container streams through its host's context and lines are
printed as they arrive. Either way each line is prefixed with host/container.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from python_on_whales import DockerException

from pdcompose.deploy.containers import states
from pdcompose.engine.clients import project_client
from pdcompose.engine.errors import wrapped
from pdcompose.engine.fanout import each, parallel
from pdcompose.plan.models import Host

Emit = Callable[[str, str], None]    # (prefix, line)


@dataclass(frozen=True)
class Source:
    host: Host
    service: str
    container: str

    @property
    def prefix(self) -> str:
        return f"{self.host.name}/{self.service}"


def sources(hosts: list[Host], roles: list[str]) -> list[Source]:
    found = parallel(states, hosts)
    out = []
    for host in hosts:
        for c in host.containers:
            state = found[host.name].get(c.service)
            if state and (not roles or c.role in roles):
                out.append(Source(host, c.service, state.name))
    return out


def merged(srcs: list[Source], tail: int, since: str | None) -> Iterator[tuple[str, str]]:
    """(prefix, line) of every source's tail, in timestamp order."""
    def fetch(src: Source) -> list[tuple[str, str, str]]:
        try:
            text = str(project_client(src.host).container.logs(src.container, tail=tail, since=_since(since),
                                                               timestamps=True))
        except DockerException as exc:
            raise wrapped(src.host.name, exc) from None
        rows = []
        for line in text.splitlines():
            stamp, _, rest = line.partition(" ")
            rows.append((stamp, src.prefix, rest))
        return rows

    rows = [row for chunk in each(fetch, srcs) for row in chunk]
    for _, prefix, line in sorted(rows, key=lambda r: r[0]):
        yield prefix, line


def follow(srcs: list[Source], tail: int, since: str | None, emit: Emit, stop: threading.Event) -> None:
    lines: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=10_000)

    def pump(src: Source) -> None:
        pending = b""
        try:
            stream = cast(Iterable[tuple[str, bytes]], project_client(src.host).container.logs(
                src.container, follow=True, stream=True, tail=tail, since=_since(since)))
            for _, chunk in stream:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    lines.put((src.prefix, raw.decode("utf-8", "replace")))
                if stop.is_set():
                    return
        except DockerException as exc:
            lines.put((src.prefix, f"(log stream ended: {(exc.stderr or '').strip()})"))
        finally:
            if pending:
                lines.put((src.prefix, pending.decode("utf-8", "replace")))
            lines.put(None)

    for src in srcs:
        threading.Thread(target=pump, args=(src,), daemon=True).start()
    open_streams = len(srcs)
    while open_streams and not stop.is_set():
        try:
            item = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if item is None:
            open_streams -= 1
        else:
            emit(*item)


def _since(value: str | None) -> datetime | timedelta | None:
    """`--since` as the user wrote it ("10m", a timestamp): python-on-whales declares datetime or timedelta,
    but hands the value to `docker logs --since` as text, which takes every spelling Docker does."""
    return cast(datetime | timedelta | None, value)
