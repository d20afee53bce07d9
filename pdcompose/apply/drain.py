"""Taking an API server out of the router and waiting until it has nothing left in flight.

vllm-router 0.1.17 in PD mode (measured, README "Changing a running deployment"): `POST /remove_worker?url=`
stops new requests at once and lets those in flight finish; a removed worker comes back only when the
router restarts with it on its command line (`/add_worker` answers 400 in PD mode). Draining is read from
the engine's own metrics: no request running or waiting on any engine and no KV block in use (a prefill
keeps a finished request's blocks until the decode has pulled them; vLLM counts them in kv_cache_usage_perc).
"""

from __future__ import annotations

import time
from urllib.parse import quote

from pdcompose.engine.access import Access
from pdcompose.engine.inside import Request
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host

BUSY = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")
POLL = 0.25
QUIET_POLLS = 2            # idle twice in a row: a request between two polls is not missed


def remove_from_router(access: Access, router_host: Host, router_url: str, url: str) -> None:
    answer = access.fetch(router_host, [Request(f"{router_url}/remove_worker?url={quote(url, safe='')}", "POST",
                                                timeout=5)], via="router")[0]
    # 200, or the router no longer knows it (an earlier, interrupted apply removed it): either way it is out
    if answer.status not in (200, 404) and not (answer.status == 400 and b"not found" in answer.body.lower()):
        raise PdcomposeError(f"the router did not remove {url}: {answer.status or answer.error} "
                             f"{answer.body[:200].decode(errors='replace')}")


def in_router(access: Access, router_host: Host, router_url: str) -> set[str] | None:
    """The API server URLs the router routes to now (None: it did not answer)."""
    from pdcompose.wire.router import RouterWorkers, worker_base_url

    answer = access.fetch(router_host, [Request(f"{router_url}/workers", timeout=5)], via="router")[0]
    if answer.status != 200:
        return None
    return {worker_base_url(w.url) for w in RouterWorkers.model_validate_json(answer.body).workers}


def busy(metrics: str) -> float:
    """Sum of the in-flight gauges over every engine of one API server."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(BUSY):
            try:
                total += float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
    return total


def wait_drained(access: Access, members: list[tuple[Host, str, str]], timeout: float) -> float:
    """Wait until every (host, service, url) is idle; returns the seconds it took, raises after `timeout`."""
    t0 = time.monotonic()
    quiet = 0
    last: dict[str, float] = {}
    while True:
        for host, service, url in members:
            answer = access.fetch(host, [Request(f"{url}/metrics", timeout=3)], via=service)[0]
            last[url] = busy(answer.body.decode(errors="replace")) if answer.status == 200 else 0.0
        quiet = quiet + 1 if not any(last.values()) else 0
        if quiet >= QUIET_POLLS:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            left = ", ".join(f"{u} ({v:g})" for u, v in last.items() if v)
            raise PdcomposeError(f"not drained within {timeout:.0f} s: {left} still busy")
        time.sleep(POLL)
