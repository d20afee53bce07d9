"""The exception hierarchy. Library code raises; only the CLI prints and exits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One finding about the user's input, located as precisely as the input allows."""

    code: str                      # stable, machine-readable: "unknown-key", "gpu-claimed-twice", ...
    path: str                      # field path in the topology: "prefill[0].nodes[1]"
    message: str                   # what is wrong, and the fix
    severity: Severity = "error"
    file: str | None = None
    line: int | None = None        # 1-based
    column: int | None = None      # 1-based

    def format(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        field = f"{self.path}: " if self.path else ""
        return f"{where + ': ' if where else ''}{self.severity}: {field}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class PdcomposeError(Exception):
    """Anything pdcompose reports to the user as `error: <message>`."""

    exit_code = 1


class TopologyError(PdcomposeError):
    """The topology (or a preset it names) is invalid. Carries every issue found, not just the first."""

    exit_code = 2

    def __init__(self, issues: list[Issue]):
        self.issues = [i for i in issues if i.severity == "error"]
        self.warnings = [i for i in issues if i.severity == "warning"]
        super().__init__("\n".join(i.format() for i in self.issues))


class RenderError(PdcomposeError):
    """Files could not be written (the output directory is left as it was)."""


class DockerOperationError(PdcomposeError):
    """A Docker/Compose call against a host failed; the message names the host and the command."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(f"{host}: {message}")


class HostUnreachable(DockerOperationError):
    """A Docker context did not answer within its timeout."""
