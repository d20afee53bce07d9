"""The model-cache agent (pdcompose/models/agent.py) in a short-lived helper container on a host, through its
Docker context, the host's HF cache bind-mounted at the same path.

`--mount type=bind` and not `-v`: `-v` creates a missing source directory (as root, empty) and the agent
would then report an empty cache where the operator mistyped a path; `--mount` fails and says so.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pdcompose.engine import cli
from pdcompose.engine.helpers import helper_args
from pdcompose.errors import DockerOperationError
from pdcompose.plan.models import Host


class NoCacheDir(DockerOperationError):
    """The host has no directory at its hf_cache path."""


LABEL = "io.pdcompose.helper=models"
SOURCE = (Path(__file__).parent.parent / "models" / "agent.py").read_text()


def _args(image: str, cache: str, job: list[str], *, stdin: bool, env: dict[str, str] | None = None,
          secrets_tmpfs: bool = False) -> list[str]:
    extra = ["--mount", f"type=bind,src={cache},dst={cache}"]
    if secrets_tmpfs:       # the token's file lives in memory and dies with the container
        extra += ["--tmpfs", "/run/secrets:size=1m,mode=0700"]
    for key, value in (env or {}).items():
        extra += ["-e", f"{key}={value}"]
    args = helper_args(image, LABEL, ["-c", SOURCE, *job], stdin=stdin)
    return [*args[:2], *extra, *args[2:]]


def ask(host: Host, image: str, cache: str, job: list[str], timeout: float) -> str:
    """One short job (inventory): its stdout. Missing cache directories are named, not hidden."""
    result = cli.run(host.name, host.context, _args(image, cache, job, stdin=False), timeout)
    if not result.ok:
        text = result.last_error()
        if "bind source path does not exist" in text:
            raise NoCacheDir(host.name, f"no directory {cache} on {host.name} (its hf_cache): create "
                                            "it there (mkdir -p) or mount the shared cache",
                                       command=result.argv, return_code=result.returncode, stderr=result.stderr)
        raise result.error(host.name, f"the model-cache helper ({image}) failed")
    return result.stdout


class Session:
    """A long job (receive, pull): bytes in on stdin, JSON lines out on stdout, stderr kept for the error."""

    def __init__(self, host: Host, image: str, cache: str, job: list[str], *, env: dict[str, str] | None = None,
                 secrets_tmpfs: bool = False) -> None:
        self.host, self.image = host, image
        self.argv = cli.argv(host.context, _args(image, cache, job, stdin=True, env=env,
                                                 secrets_tmpfs=secrets_tmpfs))
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__: the session outlives this call)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors)

    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def lines(self) -> Iterator[str]:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            yield raw.decode(errors="replace").strip()

    def close(self) -> int:
        with contextlib.suppress(OSError):
            self.stdin.close()
        return self.proc.wait()

    def wait(self) -> int:
        """Its exit status, stdin left open until then (a job that reads to stdin's end would take the close
        for an interruption)."""
        code = self.proc.wait()
        with contextlib.suppress(OSError):
            self.stdin.close()
        return code

    def kill(self) -> None:
        """The helper's stdin closes with its CLI: the agent sees the end of the stream and stops, keeping what
        it received (`.incomplete` files, resumed next time)."""
        self.proc.kill()
        self.proc.wait()

    def failure(self, what: str) -> DockerOperationError:
        self._errors.seek(0)
        lines = [ln for ln in self._errors.read().decode(errors="replace").splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit status {self.proc.returncode}"
        return DockerOperationError(self.host.name, f"{what} ({self.image}): {reason}", command=self.argv,
                                    return_code=self.proc.returncode, stderr="\n".join(lines))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._errors.close()
