"""Docker contexts for a rehearsal: one per simulated host, all pointing at the local engine.

Only contexts whose names the rehearsal plan chose (`rehearsal-<host>`) are ever created or removed;
an existing context of that name is reused only if it points at the same engine.
"""

from __future__ import annotations

import os

from python_on_whales import Context, DockerClient, DockerException

from pdcompose.engine.errors import one_line
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Plan
from pdcompose.plan.rehearsal import CONTEXT_PREFIX


class ContextError(PdcomposeError):
    """Listing, inspecting, creating or removing a rehearsal's Docker contexts failed."""


def local_endpoint() -> str:
    """The engine the current environment talks to (DOCKER_HOST, else the current context's)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    try:
        host = DockerClient().context.inspect(None).endpoints["docker"].host  # None: the current context
    except DockerException as exc:
        raise ContextError(f"cannot read the current Docker context: {one_line(exc)}") from None
    if not host:
        raise ContextError("the current Docker context has no Docker endpoint; set DOCKER_HOST to rehearse")
    return host


def ensure_rehearsal_contexts(plan: Plan) -> list[str]:
    """Create the plan's rehearsal contexts that are missing; return the names created."""
    if not plan.rehearsal or not any(h.context.startswith(CONTEXT_PREFIX) for h in plan.hosts):
        return []     # a lab's hosts (rehearsal.addresses: hosts) have contexts of their own: nothing to make
    try:
        return _ensure(plan)
    except DockerException as exc:
        raise ContextError(f"cannot prepare the rehearsal's Docker contexts: {one_line(exc)}") from None


def _ensure(plan: Plan) -> list[str]:
    docker, endpoint = DockerClient(), local_endpoint()
    existing = {c.name: c for c in docker.context.list()}
    created = []
    for host in plan.hosts:
        name = host.context
        if not name.startswith(CONTEXT_PREFIX):
            continue  # not one a rehearsal made: the user's own, left as it is
        if name in existing:
            target = docker.context.inspect(name).endpoints["docker"].host
            if target != endpoint:
                raise PdcomposeError(f"Docker context '{name}' exists but points at {target}, not the local "
                                     f"engine {endpoint}; remove it (docker context rm {name}) to rehearse")
            continue
        try:
            docker.context.create(name, description=f"pdcompose rehearsal of host {host.name}",
                                  docker={"host": endpoint})
        except DockerException as exc:
            if "already exists" not in (exc.stderr or ""):  # a parallel run made it first
                raise
        created.append(name)
    return created


def remove_rehearsal_contexts(plan: Plan) -> list[str]:
    if not plan.rehearsal:
        return []
    try:
        return _remove(plan)
    except DockerException as exc:
        raise ContextError(f"cannot remove the rehearsal's Docker contexts: {one_line(exc)}") from None


def _remove(plan: Plan) -> list[str]:
    docker = DockerClient()
    names = [h.context for h in plan.hosts if h.context.startswith(CONTEXT_PREFIX)]
    present = {c.name for c in docker.context.list()}
    gone = [n for n in names if n in present]
    if gone:
        doomed: list[Context | str] = [*gone]
        docker.context.remove(doomed, force=True)
    return gone
