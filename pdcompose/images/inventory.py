"""Which image ID each host has behind each reference its containers use, next to the deployer's own
engine and the images lock. Every host is asked at once, each call under a timeout."""

from __future__ import annotations

from dataclasses import dataclass

from pdcompose.engine.fanout import each
from pdcompose.engine.images import LOCAL, image_id
from pdcompose.engine.reach import probe_all
from pdcompose.errors import HostUnreachable, PdcomposeError
from pdcompose.plan.models import Host


@dataclass(frozen=True)
class HostImage:
    host: str
    ref: str
    id: str | None              # None: absent (or unknown, when error is set)
    error: str | None = None    # the host could not be asked


@dataclass(frozen=True)
class Inventory:
    local: dict[str, str | None]      # reference -> ID on the deployer's engine (None: not there)
    lock: dict[str, str]              # reference -> ID the images lock pins
    rows: list[HostImage]

    def needs_copy(self, row: HostImage) -> bool:
        return row.error is None and row.id != self.local.get(row.ref)

    def unreachable(self) -> dict[str, str]:
        return {r.host: r.error for r in self.rows if r.error}


Extra = dict[str, list[str]]     # host name -> images it needs beside its containers' (the load generator's)


def wanted(hosts: list[Host], extra: Extra | None = None) -> dict[str, list[str]]:
    extra = extra or {}
    return {h.name: sorted({c.image for c in h.containers} | set(extra.get(h.name, ()))) for h in hosts}


def inventory(hosts: list[Host], lock: dict[str, str], timeout: float = 10.0, extra: Extra | None = None) -> Inventory:
    need = wanted(hosts, extra)
    refs = sorted({ref for refs in need.values() for ref in refs})
    reach = probe_all({h.name: h.context for h in hosts}, timeout)
    jobs: list[tuple[str | None, str | None, str]] = [(None, None, ref) for ref in refs]
    jobs += [(h.name, h.context, ref) for h in hosts if not isinstance(reach[h.name], HostUnreachable)
             for ref in need[h.name]]

    def ask(job: tuple[str | None, str | None, str]) -> str | None | PdcomposeError:
        host, context, ref = job
        try:
            return image_id(host or LOCAL, context, ref, timeout)
        except PdcomposeError as exc:
            return exc

    answers = dict(zip(jobs, each(ask, jobs), strict=True))
    local: dict[str, str | None] = {}
    for (host, _, ref), answer in answers.items():
        if host is None:
            if isinstance(answer, PdcomposeError):
                raise answer
            local[ref] = answer
    rows = []
    for h in hosts:
        dead = reach[h.name]
        for ref in need[h.name]:
            answer = dead if isinstance(dead, HostUnreachable) else answers[(h.name, h.context, ref)]
            rows.append(HostImage(h.name, ref, None, str(answer).removeprefix(f"{h.name}: "))
                        if isinstance(answer, PdcomposeError) else HostImage(h.name, ref, answer))
    return Inventory(local, dict(lock), rows)
