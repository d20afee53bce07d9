"""What the Engine says about a host's containers: state, health, restarts, and a log tail.

Read through the host's Docker context (always reachable when the context is), so a container that
exits or restart-loops is reported in seconds, with its last log lines, instead of after the health
timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from python_on_whales import Container as PowContainer
from python_on_whales import DockerException

from pdcompose.engine.clients import engine_client, project_client
from pdcompose.engine.errors import wrapped
from pdcompose.plan.models import Host

SERVICE_LABEL = "com.docker.compose.service"
DEFINITION_LABEL = "io.pdcompose.definition"     # pdcompose.plan.definition.LABEL
PROJECT_LABEL = "com.docker.compose.project"


@dataclass(frozen=True)
class ContainerState:
    host: str
    service: str
    name: str
    id: str
    status: str                  # created, running, restarting, exited, dead, paused
    health: str | None           # starting, healthy, unhealthy, or None without a healthcheck
    exit_code: int | None
    restarts: int
    started_at: datetime | None
    created: datetime | None = None      # started_at well after created: a restart, not the first start
    definition: str | None = None        # its io.pdcompose.definition label (what `apply` compares)

    @property
    def failed(self) -> bool:
        return self.status in ("exited", "dead") or self.status == "restarting" or self.health == "unhealthy"

    def describe(self) -> str:
        if self.status in ("exited", "dead"):
            return f"{self.status} ({self.exit_code})"
        restarts = f", {self.restarts} restarts" if self.restarts else ""
        health = f", {self.health}" if self.health and self.health != "healthy" else ""
        return f"{self.status}{health}{restarts}"


def states(host: Host) -> dict[str, ContainerState]:
    """service -> state for the host's Compose project (all containers, running or not).

    Listed by Compose's project label rather than with `compose ps`: one `docker ps` + one `inspect`
    costs a sixth of the CPU, and the deploy watchdog asks every host every few seconds while the
    containers it waits for are starting on the same machines."""
    try:
        containers = engine_client(host.context).container.list(
            all=True, filters=[("label", f"{PROJECT_LABEL}={host.project}")])
    except DockerException as exc:
        raise wrapped(host.name, exc) from None
    out: dict[str, ContainerState] = {}
    for c in containers:
        state = _state(host.name, c)
        out[state.service] = state
    return out


def _state(host: str, c: PowContainer) -> ContainerState:
    s = c.state
    health = s.health.status if s.health else None
    return ContainerState(host=host, service=(c.config.labels or {}).get(SERVICE_LABEL, c.name), name=c.name, id=c.id,
                          status=s.status or "unknown", health=health, exit_code=s.exit_code,
                          restarts=c.restart_count or 0, started_at=s.started_at,
                          created=c.created, definition=(c.config.labels or {}).get(DEFINITION_LABEL))


def log_tail(host: Host, name: str, lines: int = 40) -> str:
    try:
        return str(project_client(host).container.logs(name, tail=lines, timestamps=False))  # not streamed: str
    except DockerException as exc:
        return f"(no logs: {wrapped(host.name, exc)})"
