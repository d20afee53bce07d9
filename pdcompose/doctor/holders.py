"""Who holds a port: the probe's pid -> container id, named through `docker ps` on the same host.

Bridge-network containers publish ports through docker-proxy (or only iptables rules, with the
userland proxy off), so their ports are also matched against what `docker ps` says they publish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pdcompose.engine import cli

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
PS_FORMAT = "\t".join(["{{.ID}}", "{{.Names}}", f'{{{{.Label "{PROJECT}"}}}}', f'{{{{.Label "{SERVICE}"}}}}',
                       "{{.Ports}}"])
PUBLISHED = re.compile(r"(?:^|, )([0-9a-fA-F.:\[\]]*):(\d+)(?:-(\d+))?->")


@dataclass(frozen=True)
class Running:
    id: str
    name: str
    project: str
    service: str
    published: frozenset[int]


@dataclass(frozen=True)
class Holder:
    text: str               # "container 'x' (abc123, project p)" or "process python3 (pid 42)"
    own: bool               # one of this deployment's containers on this host
    stop: str               # how to free the port


def running(host: str, context: str, timeout: float) -> dict[str, Running]:
    result = cli.run(host, context, ["ps", "--no-trunc", "--format", PS_FORMAT], timeout)
    if not result.ok:
        return {}
    out = {}
    for line in result.stdout.splitlines():
        cid, name, project, service, ports = (line.split("\t") + [""] * 5)[:5]
        published: set[int] = set()
        for m in PUBLISHED.finditer(ports):
            first = int(m.group(2))
            published.update(range(first, int(m.group(3) or first) + 1))
        out[cid] = Running(cid, name, project, service, frozenset(published))
    return out


def holders(found: dict[str, Any], port: int, containers: dict[str, Running], project: str,
            context: str) -> list[Holder]:
    """The holders of one taken port, from the probe's answer and the host's containers."""
    out, seen = [], set()
    for h in found.get("holders", []):
        c = containers.get(h.get("container") or "")
        if c is not None:
            if c.id not in seen:
                seen.add(c.id)
                out.append(_container(c, project, context))
        elif h.get("container"):
            out.append(Holder(f"container {h['container'][:12]} (not listed by `docker ps` on this context; "
                              f"pid {h['pid']} {h['comm']})", False, f"stop container {h['container'][:12]}"))
        elif h.get("comm") != "docker-proxy":
            out.append(Holder(f"process {h['comm'] or '?'} (pid {h['pid']})", False,
                              f"stop pid {h['pid']} on the host"))
    for c in containers.values():
        if port in c.published and c.id not in seen:
            seen.add(c.id)
            out.append(_container(c, project, context))
    return out


def probable_owner(containers: dict[str, Running], project: str, service: str) -> list[Holder]:
    return [Holder(f"probably its own {service}", True, "") for c in containers.values()
            if c.project == project and c.service == service][:1]


def _container(c: Running, project: str, context: str) -> Holder:
    where = f", project {c.project}" if c.project else ""
    return Holder(f"container '{c.name}' ({c.id[:12]}{where})", c.project == project,
                  f"docker --context {context} stop {c.name}")
