"""One python-on-whales client per host, bound to that host's Docker context and Compose project.

Never `docker context use`: the user's current context is theirs. Deploys pass the host's rendered
Compose file; day-2 commands (ps, logs, stop, down) address the project by name only, from an empty
project directory, so they need neither the bundle nor the secrets its `up` would interpolate.
"""

from __future__ import annotations

import atexit
import tempfile
from functools import cache
from pathlib import Path

from python_on_whales import DockerClient

from pdcompose.plan.models import Host


def compose_file(bundle: Path, host: Host) -> Path:
    return bundle / host.name / "compose.yaml"


def deploy_client(host: Host, bundle: Path) -> DockerClient:
    path = compose_file(bundle, host)
    return DockerClient(context=host.context, compose_files=[path], compose_project_name=host.project,
                        compose_project_directory=path.parent)


def project_client(host: Host) -> DockerClient:
    return DockerClient(context=host.context, compose_project_name=host.project,
                        compose_project_directory=_empty_dir())


def engine_client(context: str) -> DockerClient:
    return DockerClient(context=context)


@cache
def _empty_dir() -> str:
    # Without -f, Compose looks for a compose.yaml in the project directory: give it one with none,
    # removed when the process ends (it used to be left behind in the temp folder by every command).
    folder = tempfile.TemporaryDirectory(prefix="pdcompose-project-")
    atexit.register(folder.cleanup)
    return folder.name
