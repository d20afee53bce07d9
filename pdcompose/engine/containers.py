"""A Compose project's containers as Docker inspects them: ONE docker call per host, whatever the count.

The plan names every container (Compose v2 calls a service's container <project>-<service>-1), so one
`docker container inspect` of those names answers for all of them; the ones that do not exist are
reported by Docker one line each and simply left out. A `ps` to find them first would double the calls,
and each call through an ssh:// context is a docker CLI here, an SSH channel and a `docker system
dial-stdio` on the host: on a 2-core lab of 7 hosts, status spent most of its time on those processes.

Why not python-on-whales' `container.list`: besides that extra `ps`, every attribute of the Container
objects it returns is re-inspected (one more docker call over SSH) once its cached copy is 10 ms old
(python_on_whales.client_config.CACHE_VALIDITY_PERIOD). The answer is parsed with its own model instead.
"""

from __future__ import annotations

import json

from python_on_whales.components.container.models import ContainerInspectResult

from pdcompose.engine.cli import run

PROJECT_LABEL = "com.docker.compose.project"
TIMEOUT = 30.0           # one docker call over a slow SSH link; a hung host is reported, not waited for
_MISSING = ("No such container", "No such object")


def project_containers(host: str, context: str | None, project: str, names: list[str],
                       timeout: float = TIMEOUT) -> list[ContainerInspectResult]:
    """The named containers of the project that exist on the host, running or not."""
    if not names:
        return []
    found = run(host, context, ["container", "inspect", *names], timeout)
    if not found.ok and not only_missing(found.stderr):
        raise found.error(host, f"`docker container inspect` of {len(names)} container(s) failed (exit "
                                f"{found.returncode})")
    items = [ContainerInspectResult(**item) for item in json.loads(found.stdout or "[]")]
    # Same name, other owner (a container made by hand): not this project's.
    return [c for c in items if ((c.config.labels if c.config else None) or {}).get(PROJECT_LABEL) == project]


def only_missing(stderr: str) -> bool:
    """Docker's complaints are all about names that do not exist (not a daemon or SSH failure)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(any(m in line for m in _MISSING) for line in lines)


def all_of_project(host: str, context: str | None, project: str,
                   timeout: float = TIMEOUT) -> list[ContainerInspectResult]:
    """Every container of the project, planned or not (what `apply` must find to remove): a `ps`, then an
    inspect of what it listed."""
    listed = run(host, context, ["container", "ls", "--all", "--quiet", "--no-trunc",
                                 "--filter", f"label={PROJECT_LABEL}={project}"], timeout)
    if not listed.ok:
        raise listed.error(host, f"`docker container ls` failed (exit {listed.returncode})")
    return project_containers(host, context, project, listed.stdout.split(), timeout)
