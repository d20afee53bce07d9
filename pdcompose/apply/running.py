"""What runs: every container of the cluster on each host, with its definition label and the parts of
its configuration a change plan names (image, argv, environment), read through the hosts' contexts."""

from __future__ import annotations

from python_on_whales.components.container.models import ContainerInspectResult

from pdcompose.apply.model import Running
from pdcompose.deploy.containers import SERVICE_LABEL
from pdcompose.deploy.watchdogs import WATCHES
from pdcompose.engine.containers import all_of_project
from pdcompose.engine.fanout import parallel
from pdcompose.plan.definition import LABEL
from pdcompose.plan.models import Host


def read_running(hosts: list[Host]) -> list[Running]:
    """Every host's containers of its Compose project, all hosts at once."""
    return [r for found in parallel(_host, hosts).values() for r in found]


def _host(host: Host) -> list[Running]:
    found = all_of_project(host.name, host.context, host.project)
    return sorted((_running(host.name, c) for c in found), key=lambda r: r.service)


def _running(host: str, c: ContainerInspectResult) -> Running:
    config = c.config
    labels = (config.labels if config else None) or {}
    instance = labels.get("io.pdcompose.instance")
    env = dict(item.partition("=")[::2] for item in ((config.env if config else None) or []))
    name = (c.name or "").removeprefix("/")
    return Running(host=host, service=labels.get(SERVICE_LABEL, name), role=labels.get("io.pdcompose.role", "?"),
                   instance=int(instance) if instance and instance.isdigit() else None,
                   definition=labels.get(LABEL), image=str(config.image if config else ""),
                   command=list((config.cmd if config else None) or []), env=env,
                   status=(c.state.status if c.state else None) or "unknown", watches=labels.get(WATCHES))
