"""What runs: every container of the cluster on each host, with its definition label and the parts of
its configuration a change plan names (image, argv, environment), read through the hosts' contexts."""

from __future__ import annotations

from python_on_whales import Container as PowContainer
from python_on_whales import DockerException

from pdcompose.apply.model import Running
from pdcompose.deploy.containers import PROJECT_LABEL, SERVICE_LABEL
from pdcompose.engine.clients import engine_client
from pdcompose.engine.errors import wrapped
from pdcompose.engine.fanout import parallel
from pdcompose.plan.definition import LABEL
from pdcompose.plan.models import Host


def read_running(hosts: list[Host]) -> list[Running]:
    """Every host's containers of its Compose project, all hosts at once."""
    return [r for found in parallel(_host, hosts).values() for r in found]


def _host(host: Host) -> list[Running]:
    try:
        found = engine_client(host.context).container.list(
            all=True, filters=[("label", f"{PROJECT_LABEL}={host.project}")])
    except DockerException as exc:
        raise wrapped(host.name, exc) from None
    return sorted((_running(host.name, c) for c in found), key=lambda r: r.service)


def _running(host: str, c: PowContainer) -> Running:
    labels = c.config.labels or {}
    instance = labels.get("io.pdcompose.instance")
    env = dict(item.partition("=")[::2] for item in (c.config.env or []))
    return Running(host=host, service=labels.get(SERVICE_LABEL, c.name), role=labels.get("io.pdcompose.role", "?"),
                   instance=int(instance) if instance and instance.isdigit() else None,
                   definition=labels.get(LABEL), image=str(c.config.image), command=list(c.config.cmd or []),
                   env=env, status=c.state.status or "unknown")
