"""What the Engine says about a host's containers: state, health, restarts, and a log tail.

Read through the host's Docker context (always reachable when the context is), so a container that
exits or restart-loops is reported in seconds, with its last log lines, instead of after the health
timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from python_on_whales import DockerException
from python_on_whales.components.container.models import ContainerInspectResult

from pdcompose.engine.clients import project_client
from pdcompose.engine.containers import project_containers
from pdcompose.engine.errors import wrapped
from pdcompose.engine.inside import container_name
from pdcompose.plan.definition import LABEL as DEFINITION_LABEL
from pdcompose.plan.models import Host

SERVICE_LABEL = "com.docker.compose.service"


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
    """service -> state of the host's planned containers that exist (running or not).

    One `docker container inspect` of their names rather than `compose ps`: a sixth of the CPU, and the
    deploy watchdog asks every host every few seconds while the containers it waits for are starting on
    the same machines."""
    out: dict[str, ContainerState] = {}
    names = [container_name(host, c.service) for c in host.containers]
    for c in project_containers(host.name, host.context, host.project, names):
        state = _state(host.name, c)
        out[state.service] = state
    return out


def _state(host: str, c: ContainerInspectResult) -> ContainerState:
    s = c.state
    name = (c.name or "").removeprefix("/")
    labels = (c.config.labels if c.config else None) or {}
    return ContainerState(host=host, service=labels.get(SERVICE_LABEL, name), name=name, id=c.id or "",
                          status=(s.status if s else None) or "unknown",
                          health=s.health.status if s and s.health else None,
                          exit_code=s.exit_code if s else None, restarts=c.restart_count or 0,
                          started_at=s.started_at if s else None, created=c.created,
                          definition=labels.get(DEFINITION_LABEL))


def log_tail(host: Host, name: str, lines: int = 40) -> str:
    try:
        return str(project_client(host).container.logs(name, tail=lines, timestamps=False))  # not streamed: str
    except DockerException as exc:
        return f"(no logs: {wrapped(host.name, exc)})"
