"""Run one function for many hosts (or anything else) at once: every Docker call is a subprocess
waiting on a remote engine, and every probe a socket waiting on a remote server, so threads are the
right tool, and N slow hosts cost one wait. The one thread pool of pdcompose: nothing else makes one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar, overload

from pdcompose.plan.models import Host

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741

LIMIT = 32


def each_or_error(fn: Callable[[I], T], items: Sequence[I], limit: int = LIMIT) -> list[T | Exception]:
    """fn for every item at once (at most `limit` at a time); results in the items' order, an item's
    exception in place of its result."""
    return [r.error if isinstance(r, _Raised) else r for r in _run(fn, items, limit)]


def each(fn: Callable[[I], T], items: Sequence[I], limit: int = LIMIT) -> list[T]:
    """fn for every item at once; results in the items' order. The first item's exception (in that
    order) is raised, after every call has ended."""
    out: list[T] = []
    for r in _run(fn, items, limit):
        if isinstance(r, _Raised):
            raise r.error
        out.append(r)
    return out


def together(calls: Sequence[Callable[[], T]], limit: int = LIMIT) -> list[T]:
    """Different calls at once (a host's probes, a status's sources); results in order."""
    return each(_call, calls, limit)


@overload
def parallel(fn: Callable[[Host], T], hosts: list[Host], raise_first: Literal[True] = True) -> dict[str, T]: ...
@overload
def parallel(fn: Callable[[Host], T], hosts: list[Host], raise_first: Literal[False]) -> dict[str, T | Exception]: ...


def parallel(fn: Callable[[Host], T], hosts: list[Host],
             raise_first: bool = True) -> dict[str, T] | dict[str, T | Exception]:
    """Run fn for every host at once; results by host name (or the exception, when not raising)."""
    names = [h.name for h in hosts]
    if raise_first:
        return dict(zip(names, each(fn, hosts), strict=True))
    return dict(zip(names, each_or_error(fn, hosts), strict=True))


def size_asyncio_threads() -> None:
    """Inside a running event loop (the health gates): its to_thread calls get as many threads as any fan-out.
    asyncio's default executor has min(32, CPUs + 4), 6 on a 2-core machine: fewer than the hosts a gate asks
    at once, so a poll of 7 hosts through their contexts would take two rounds of `docker exec`."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=LIMIT))


def _call(fn: Callable[[], T]) -> T:
    return fn()


@dataclass(frozen=True)
class _Raised:
    """What a call raised, told apart from what it returned: a value fn returns is a result even when it is
    an exception (reach.probe_all returns HostUnreachable for a dead host)."""

    error: Exception


def _run(fn: Callable[[I], T], items: Sequence[I], limit: int) -> list[T | _Raised]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
    out: list[T | _Raised] = []
    for future in futures:
        error = future.exception()
        if error is None:
            out.append(future.result())
        elif isinstance(error, Exception):
            out.append(_Raised(error))
        else:
            raise error                      # KeyboardInterrupt and the like are never a result
    return out
