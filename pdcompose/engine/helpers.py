"""Short-lived helper containers on a host, through its Docker context: `python3` in a `--network host`
container of an image the host already has (`--pull never`), labelled so that they can be found and
removed. The in-host HTTP requests (engine/inside.py) and the load generator (bench/remote.py) run this way.
"""

from __future__ import annotations

import subprocess

from pdcompose.engine.cli import argv
from pdcompose.errors import DockerOperationError
from pdcompose.plan.models import Host


def helper_args(image: str, label: str, python_args: list[str], *, stdin: bool = False) -> list[str]:
    """`docker run` arguments for `python3 <python_args>` in a helper container of `image`."""
    return ["run", "--rm", *(["-i"] if stdin else []), "--network", "host", "--pull", "never", "--label", label,
            "--entrypoint", "python3", image, *python_args]


def run_python(host: Host, image: str, python_args: list[str], *, label: str, stdin: bytes, what: str) -> bytes:
    """`python3 <python_args>` in a helper container on `host`, fed `stdin`; its stdout. Its stderr goes to
    ours as it comes (progress). No timeout: for runs that last as long as their work (each step bounded
    by its own timeout), like the image transfers of engine/images.py."""
    command = argv(host.context, helper_args(image, label, python_args, stdin=True))
    done = subprocess.run(command, input=stdin, stdout=subprocess.PIPE, stderr=None, check=False)
    if done.returncode != 0:
        raise DockerOperationError(host.name, f"{what} ({image}, through Docker context '{host.context}') exited "
                                              f"{done.returncode}", command=command, return_code=done.returncode,
                                   stdout=done.stdout.decode(errors="replace"))
    return done.stdout
