"""The exception hierarchy. Library code raises; only the CLI prints and exits."""

from __future__ import annotations

from collections.abc import Sequence
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
    """A Docker/Compose call against a host failed. As python-on-whales' DockerException does, the failed
    call stays in fields: `command` (the argv), `return_code` (Docker's exit status, None where it did not
    exit: a timeout; `exit_code` stays pdcompose's own), `stdout` and `stderr` (all empty where no call
    failed, e.g. an answer that could not be read). str() is one line a user can act on: `<host>:
    <message>`, the message naming the command and Docker's last words."""

    def __init__(self, host: str, message: str, *, command: Sequence[str] = (), return_code: int | None = None,
                 stdout: str = "", stderr: str = ""):
        self.host = host
        self.message = message
        self.command = tuple(command)
        self.return_code = return_code
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"{host}: {message}")

    def details(self) -> dict[str, object]:
        """The fields a machine reads (`--json`): host, and the failed call where there was one."""
        call = {"command": list(self.command), "return_code": self.return_code, "stderr": self.stderr} \
            if self.command else {}
        return {"host": self.host, **call}


class HostUnreachable(DockerOperationError):
    """A Docker context did not answer within its timeout."""
