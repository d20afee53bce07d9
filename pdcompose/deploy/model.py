"""What a deploy run reports, fails with, and is told to do."""

from __future__ import annotations

from dataclasses import dataclass, field

from pdcompose.engine.access import Mode
from pdcompose.errors import PdcomposeError


@dataclass(frozen=True)
class DeployOptions:
    contexts: tuple[str, ...] = ()
    timeout: float | None = None            # health gate; default: the topology's health.deploy_timeout
    rollback: bool = False
    smoke: bool = True
    reach_timeout: float = 10.0
    skip_doctor: bool = False               # the fast doctor (reachability, images, ports) before anything starts
    access: Mode = "auto"                   # how the endpoints are reached: directly, through the contexts, or auto
    allow_download: bool = False            # start vLLM where the model's revision is missing (it downloads it)


@dataclass(frozen=True)
class Failure:
    host: str
    service: str
    reason: str
    logs: str = ""


class DeployFailed(PdcomposeError):
    def __init__(self, message: str, failures: list[Failure], state: str):
        self.failures, self.state = failures, state
        super().__init__(message)


@dataclass
class DeployReport:
    hosts: list[str]
    started: dict[str, list[str]] = field(default_factory=dict)
    unchanged: dict[str, list[str]] = field(default_factory=dict)
    not_gated: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    smoke: str | None = None
    access: dict[str, str] = field(default_factory=dict)     # host -> "direct" or "context", as decided
