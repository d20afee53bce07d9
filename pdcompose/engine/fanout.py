"""Run one function for many hosts at once: every Docker call is a subprocess waiting on a remote
engine, so threads are the right tool, and N slow hosts cost one wait."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pdcompose.plan.models import Host

T = TypeVar("T")


def parallel(fn: Callable[[Host], T], hosts: list[Host], raise_first: bool = True) -> dict[str, T]:
    """Run fn for every host at once; results by host name (or the exception, when not raising)."""
    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
        futures = {h.name: pool.submit(fn, h) for h in hosts}
    out: dict[str, T] = {}
    for name, future in futures.items():
        error = future.exception()
        if error is not None and raise_first:
            raise error
        out[name] = error if error is not None else future.result()  # type: ignore[assignment]
    return out
