"""What runs, and the change plan `apply` prints and carries out: plain data, no Docker types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Unit = tuple[str, int | None]          # ("prefill", 0), ("decode", 1), ("router", None)
Kind = Literal["add", "change", "remove", "restart-router"]


def unit_of(role: str, instance: int | None, watches: str | None) -> Unit:
    """A group watchdog belongs to the instance it watches: it is stopped, recreated and removed with it."""
    if role == "watchdog" and watches:
        name, _, index = watches.rpartition("-")
        return name, int(index)
    return role, instance


@dataclass(frozen=True)
class Running:
    """One container of the cluster as Docker reports it (labels and config of the running definition)."""

    host: str
    service: str
    role: str
    instance: int | None
    definition: str | None              # io.pdcompose.definition; None: deployed before labels existed
    image: str
    command: list[str]
    env: dict[str, str]
    status: str
    watches: str | None = None          # a group watchdog's instance ("decode-0")

    @property
    def unit(self) -> Unit:
        return unit_of(self.role, self.instance, self.watches)


@dataclass(frozen=True)
class Step:
    kind: Kind
    unit: Unit
    members: list[tuple[str, str]]       # (host, service), master first
    changes: list[str]                   # what differs, one line each ("--max-num-seqs: 8 -> 16")
    cost: str                            # restarts and what clients see
    urls: list[str] = field(default_factory=list)    # its API servers (what the router knows it by)

    @property
    def name(self) -> str:
        return self.unit[0] if self.unit[1] is None else f"{self.unit[0]}-{self.unit[1]}"


@dataclass(frozen=True)
class ChangePlan:
    steps: list[Step]
    downtime: list[str]                  # why some step cannot be done while serving ([] = none)
    unchanged: list[str]                 # instances left alone

    @property
    def empty(self) -> bool:
        return not self.steps
