"""How pdcompose reaches the cluster's HTTP endpoints: directly from this machine, or from inside each
host through its Docker context (engine/inside.py), for operators whose only way in is SSH.

`auto` (the default) decides once per host, from evidence that identifies the server: while undecided,
a host's requests go both ways at once (the direct try with a short timeout) and the answers from
inside the host are the ones used. The first time a server answers inside the host, the direct answer
to the same request settles it: the same status -> direct from then on (the fastest way); no answer, or
a different one -> through the context. Neither "refused" nor a timeout alone proves anything: an
operator in an isolated container sees the hosts' loopback rehearsal addresses as its own, and a server
still starting refuses both ways. Each decision is said once, through `say`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal, cast, get_args

import httpx

from pdcompose.engine import inside
from pdcompose.engine.fanout import each_or_error
from pdcompose.engine.inside import NO_ROUTE, REFUSED, Answer, Request, timeout_error
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host

Mode = Literal["auto", "direct", "context"]
Way = Literal["direct", "context"]
MODES: tuple[str, ...] = get_args(Mode)
DIRECT_TRY = 1.0            # s: the direct try while undecided (an unroutable address costs this, once)


@dataclass(frozen=True)
class Route:
    way: Way
    why: str


def mode_of(text: str | None) -> Mode:
    """--access (or the topology's `access:`, validated there) -> the mode; default auto."""
    if text is None:
        return "auto"
    if text not in MODES:
        raise PdcomposeError(f"--access {text}: choose one of {', '.join(MODES)}")
    return cast(Mode, text)                 # checked against MODES just above


def judge(inner: list[Answer], outer: list[Answer]) -> Route | None:
    """The way to a host, from the same requests made inside it and from here; None while no server answers
    inside the host (nothing is known yet)."""
    pairs = [(i, o) for i, o in zip(inner, outer, strict=True) if i.answered]
    if not pairs:
        return None
    if any(o.status == i.status for i, o in pairs):
        return Route("direct", "its servers answer from here as they do inside the host")
    i, o = pairs[0]
    if o.answered:
        return Route("context", f"something else answers at its address from here ({o.status}; {i.status} inside)")
    return Route("context", f"its address does not answer from here: {o.error}")


class Access:
    """The ways to the hosts, decided per host and kept for the command's life. Thread-safe."""

    def __init__(self, mode: Mode = "auto", say: Callable[[str], None] = lambda _: None):
        self.mode = mode
        self.routes: dict[str, Route] = {}
        self._say = say
        self._lock = threading.Lock()

    def fetch(self, host: Host, requests: list[Request], via: str) -> list[Answer]:
        """Answers to requests for the host's endpoints; `via` is the host's service to make them from when
        they go through the context."""
        if self.mode != "auto":
            self._decide(host, Route(self.mode, f"access: {self.mode}"))
        route = self.routes.get(host.name)
        if route is None:
            return self._both(host, requests, via)
        return direct(requests) if route.way == "direct" else inside.fetch(host, requests, via)

    def ways(self) -> dict[str, str]:
        return {h: r.way for h, r in self.routes.items()}

    def _both(self, host: Host, requests: list[Request], via: str) -> list[Answer]:
        tried = [replace(r, timeout=min(r.timeout, DIRECT_TRY)) for r in requests]
        calls: list[Callable[[], list[Answer]]] = [partial(inside.fetch, host, requests, via), partial(direct, tried)]
        inner, outer = each_or_error(_call, calls)
        if isinstance(inner, Exception):
            if isinstance(outer, Exception) or not any(a.answered for a in outer):
                raise inner
            self._decide(host, Route("direct", f"requests through its Docker context fail ({inner})"))
            return outer
        if not isinstance(outer, Exception):
            route = judge(inner, outer)
            if route is not None:
                self._decide(host, route)
        return inner

    def _decide(self, host: Host, route: Route) -> None:
        with self._lock:
            if host.name in self.routes:
                return
            self.routes[host.name] = route
        self._say(describe(host, route))


def describe(host: Host, route: Route) -> str:
    if route.way == "direct":
        return f"{host.name}: reached directly at {host.address} ({route.why})"
    return f"{host.name}: reached through its Docker context {host.context} ({route.why})"


def direct(requests: list[Request]) -> list[Answer]:
    with httpx.Client() as client:
        return [_direct_one(client, r) for r in requests]


def _direct_one(client: httpx.Client, r: Request) -> Answer:
    try:
        key = os.environ.get(r.auth) if r.auth else None
        headers = {"authorization": f"Bearer {key}"} if key else None
        response = client.request(r.method, r.url, json=r.json, timeout=r.timeout, headers=headers)
    except httpx.ConnectError as exc:
        return Answer(None, b"", REFUSED if "refused" in str(exc).lower() else NO_ROUTE)
    except httpx.TimeoutException:
        return Answer(None, b"", timeout_error(r.timeout))
    except httpx.HTTPError as exc:
        return Answer(None, b"", type(exc).__name__)
    return Answer(response.status_code, response.content)


def _call(fn: Callable[[], list[Answer]]) -> list[Answer]:
    return fn()
