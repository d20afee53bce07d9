"""The docker CLI with a timeout, for the calls that must answer in seconds or be reported as hung.

python-on-whales runs the CLI without a timeout (an unroutable ssh context hangs for ~30 s on every
call), so doctor and the image inventory go through here: the same `docker --context X ...` argv
python-on-whales would build, under `subprocess.run(timeout=...)`. Long transfers (save/load) do not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from pdcompose.errors import DockerOperationError, PdcomposeError

_HELP_HINT = re.compile(r"^(Run|See) '.*--help'")


class DockerTimeout(DockerOperationError):
    """The CLI did not return within its timeout (the host, its ssh link or its engine is stuck)."""


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    argv: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error(self, host: str, what: str) -> DockerOperationError:
        """`<what>: <Docker's last words>` for a user, the call itself in the error's fields."""
        return DockerOperationError(host, f"{what}: {self.last_error()}", command=self.argv,
                                    return_code=self.returncode, stdout=self.stdout, stderr=self.stderr)

    def last_error(self) -> str:
        lines = [line.strip() for line in (self.stderr or self.stdout).strip().splitlines()
                 if line.strip() and not _HELP_HINT.match(line.strip())]
        return lines[-1].removeprefix("docker: ") if lines else f"exit status {self.returncode}"


def docker_binary() -> str:
    path = shutil.which("docker")
    if path is None:
        raise PdcomposeError("no `docker` CLI on PATH: install Docker's CLI and the Compose v2 plugin (make setup)")
    return path


def argv(context: str | None, args: list[str]) -> list[str]:
    """None = the deployer's own engine (DOCKER_HOST, else the current context), as python-on-whales does."""
    return [docker_binary(), *(["--context", context] if context else []), *args]


def run(host: str, context: str | None, args: list[str], timeout: float) -> CliResult:
    command = argv(context, args)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        where = f"Docker context '{context}'" if context else "the local Docker engine"
        raise DockerTimeout(host, f"`docker {' '.join(args[:2])}` through {where} did not answer within "
                                  f"{timeout:.0f} s (host down, unroutable, or ssh waiting?)",
                            command=command) from None
    return CliResult(done.returncode, done.stdout, done.stderr, tuple(command))


def answers_at(endpoint: str, args: list[str], timeout: float) -> CliResult | None:
    """A daemon addressed by its endpoint (`-H unix://...`) rather than a context: the lab's own view of its
    hosts' daemons on this machine. None when it did not answer within `timeout`."""
    command = [docker_binary(), "-H", endpoint, *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return CliResult(done.returncode, done.stdout, done.stderr, tuple(command))
