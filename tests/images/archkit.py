"""Images whose metadata names another CPU architecture than the local engine's, built cheaply.

`docker build --platform linux/<other>` of a Dockerfile that is FROM scratch and only COPYs a file runs
nothing (no emulation needed), and the classic builder records the requested architecture in the
image (checked on Engine 20.10). Each image has content of its own, so its ID is unique to the run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from python_on_whales import DockerClient, DockerException

from pdcompose import arch


def local_engine_arch() -> str:
    found = arch.normalize(subprocess.run(["docker", "info", "--format", "{{.Architecture}}"], capture_output=True,
                                          text=True, timeout=30, check=True).stdout)
    assert found, "the local engine does not say its architecture"
    return found


def other_arch() -> str:
    return "arm64" if local_engine_arch() != "arm64" else "amd64"


@contextlib.contextmanager
def foreign_image(folder: Path, platform_arch: str | None = None) -> Iterator[tuple[str, str]]:
    """(tag, arch) of a one-file image built for another architecture than the local engine's; removed after."""
    want = platform_arch or other_arch()
    tag = f"pdcompose-test/foreign-{want}:{uuid.uuid4().hex[:10]}"
    ctx = folder / f"foreign-{uuid.uuid4().hex[:6]}"
    ctx.mkdir()
    (ctx / "payload").write_text(f"pdcompose arch test {tag}\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    done = subprocess.run(["docker", "build", "--platform", f"linux/{want}", "-t", tag, str(ctx)],
                          env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    built = DockerClient().image.inspect(tag).architecture
    assert built == want, f"the engine recorded {built} for a --platform linux/{want} build"
    try:
        yield tag, want
    finally:
        with contextlib.suppress(DockerException):
            DockerClient().image.remove(tag, force=True)
