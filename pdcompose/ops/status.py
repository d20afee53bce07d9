"""`pdcompose status`: one view over all hosts: each container's state, its endpoint's own /health,
and whether the router counts it healthy. Also flags a decode whose NIXL agent is stale."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
from pydantic import ValidationError

from pdcompose.deploy.containers import ContainerState, states
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Container, Host, Plan
from pdcompose.protocol import RouterWorkers, worker_base_url

TIMEOUT = 3.0
STALE_AFTER = timedelta(seconds=60)    # one deploy starts every node within seconds of the others


@dataclass(frozen=True)
class Row:
    host: str
    service: str
    role: str
    url: str
    state: ContainerState | None
    state_error: str | None          # the host could not be asked
    endpoint: str                    # "200", "503", "refused", ...
    router_view: str                 # "healthy", "3/4 healthy" (DP engines), "-" (router) or "unknown"

    @property
    def ok(self) -> bool:
        return (self.state is not None and self.state.status == "running" and self.endpoint == "200"
                and self.router_view in ("healthy", "-"))


@dataclass(frozen=True)
class Status:
    rows: list[Row]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


def collect(plan: Plan, hosts: list[Host]) -> Status:
    with ThreadPoolExecutor(max_workers=min(32, len(hosts) + 2)) as pool:
        state_futures = {h.name: pool.submit(_states, h) for h in hosts}
        containers = [(h, c) for h in hosts for c in h.containers]
        endpoint_futures = [pool.submit(_endpoint, c) for _, c in containers]
        view = pool.submit(router_view, plan).result()
    rows = []
    for (host, c), endpoint in zip(containers, endpoint_futures, strict=True):
        found, error = state_futures[host.name].result()
        rows.append(Row(host.name, c.service, c.role, c.url, found.get(c.service) if found else None, error,
                        endpoint.result(), "-" if c.role == "router" else view.get(c.url, "unknown")))
    return Status(rows, stale_nixl(rows))


def _states(host: Host) -> tuple[dict[str, ContainerState] | None, str | None]:
    try:
        return states(host), None
    except PdcomposeError as exc:
        return None, str(exc)


def _endpoint(c: Container) -> str:
    try:
        return str(httpx.get(f"{c.url}{c.health_path}", timeout=TIMEOUT).status_code)
    except httpx.ConnectError:
        return "refused"
    except httpx.HTTPError as exc:
        return type(exc).__name__


def router_view(plan: Plan) -> dict[str, str]:
    """API server URL -> what the router's /workers says about it (all of its DP targets)."""
    try:
        response = httpx.get(f"{plan.router.url}/workers", timeout=TIMEOUT)
        workers = RouterWorkers.model_validate_json(response.content).workers
    except (httpx.HTTPError, ValidationError):
        return {}
    targets: dict[str, list[bool]] = {}
    for w in workers:
        targets.setdefault(worker_base_url(w.url), []).append(w.is_healthy)
    return {url: "healthy" if all(ok) else f"{sum(ok)}/{len(ok)} healthy" for url, ok in targets.items()}


def stale_nixl(rows: list[Row]) -> list[str]:
    """A decode keeps the NIXL agent of the prefill it first talked to; after a prefill restarts, the
    decode fails or segfaults until it restarts too (vllm#49238)."""
    running = [r for r in rows if r.state and r.state.status == "running" and r.state.started_at]
    prefills = [r for r in running if r.role == "prefill"]
    latest = max(prefills, key=lambda r: r.state.started_at, default=None)  # type: ignore[union-attr, arg-type, return-value]
    if latest is None:
        return []
    stale = [r for r in running if r.role == "decode"
             and r.state.started_at + STALE_AFTER < latest.state.started_at]  # type: ignore[union-attr, operator]
    if not stale:
        return []
    names = ", ".join(f"{r.service} on {r.host}" for r in stale)
    return [f"{names} started before {latest.service} on {latest.host} last (re)started: their NIXL agent may be "
            "stale; run `pdcompose restart --role decode`"]
