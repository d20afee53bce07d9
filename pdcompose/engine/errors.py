"""python-on-whales exceptions as one line a user can act on (the command and Docker's last words), and as
DockerOperationError with the call kept in fields."""

from __future__ import annotations

from python_on_whales import DockerException

from pdcompose.errors import DockerOperationError


def one_line(exc: DockerException) -> str:
    lines = [line for line in (exc.stderr or exc.stdout or "").strip().splitlines() if line.strip()]
    command = " ".join(str(part) for part in exc.docker_command[1:])
    return f"`docker {command}` failed (exit {exc.return_code}): {lines[-1] if lines else 'no output captured'}"


def wrapped(host: str, exc: DockerException) -> DockerOperationError:
    return DockerOperationError(host, one_line(exc), command=[str(part) for part in exc.docker_command],
                                return_code=exc.return_code, stdout=exc.stdout or "", stderr=exc.stderr or "")
