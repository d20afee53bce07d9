"""Session fixtures for the Docker integration tests: images built once, containers reaped by label.

Images come from `images/build.sh mock router`, which skips a build whose inputs hash matches the
image's `io.pdcompose.inputs` label; so the first session on a machine builds them and later ones (and
`make e2e` after `make test`) reuse them. Those product images are kept on purpose. Containers are
labelled `io.pdcompose.test=integration` and removed at session end, and stale ones from a crashed run
at session start (their fixed loopback ports would otherwise clash).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.dockerkit import TEST_LABEL, HostNetContainer, remove_labelled, session_filter

ROOT = Path(__file__).resolve().parents[2]
SUITE = "integration"


def say(config: pytest.Config, message: str) -> None:
    """A line on the terminal even while output is captured (so `make test` logs what started)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(f"[integration] {message}", file=sys.stderr)
        return
    with capture.global_and_fixture_disabled():     # what `capsys.disabled()` does
        reporter.ensure_newline()
        reporter.write_line(f"[integration] {message}")


@dataclass(frozen=True)
class Images:
    mock: str
    router: str


@pytest.fixture(scope="session")
def images(request: pytest.FixtureRequest, docker_client) -> Images:
    """The mock vLLM and vllm-router images, built (or found up to date) by images/build.sh.

    Depends on `docker_client` so that a killed run's containers are gone first: an image still in
    use by one could not be replaced cleanly.
    """
    from pdcompose import defaults

    start = time.monotonic()
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run([str(ROOT / "images" / "build.sh"), "mock", "router"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    for line in proc.stdout.splitlines():
        say(request.config, line)
    if proc.returncode != 0:
        pytest.fail(f"images/build.sh mock router failed (rc={proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}", pytrace=False)
    say(request.config, f"images ready in {time.monotonic() - start:.1f} s")
    return Images(mock=defaults.MOCK_VLLM_IMAGE, router=defaults.ROUTER_IMAGE)


@pytest.fixture(scope="session")
def docker_client(request: pytest.FixtureRequest) -> Iterator:
    import docker

    client = docker.from_env()
    stale = remove_labelled(client, f"{TEST_LABEL}={SUITE}")
    if stale:
        say(request.config, f"removed containers left by an earlier, killed run: {', '.join(stale)}")
    yield client
    client.close()


StartContainer = Callable[..., HostNetContainer]


@pytest.fixture(scope="session")
def start_container(request: pytest.FixtureRequest, docker_client) -> Iterator[StartContainer]:
    """`start_container(image, name=, host=, command=[...], env={})` -> a started HostNetContainer.

    Every container is labelled; whatever is still there when the session ends is removed by label,
    whatever happened. Fixtures should `.stop()` (remove) their containers when they are done.
    """

    def start(image: str, *, name: str, host: str, command: list[str],
              env: dict[str, str] | None = None) -> HostNetContainer:
        labels = {TEST_LABEL: SUITE, f"{TEST_LABEL}.name": name}
        container = HostNetContainer(image, host=host, labels=labels, command=command, env=env or {})
        container.start()
        say(request.config, f"started {name:<10} {image} on {host} container={container.short_id} "
                            f"args: {' '.join(command)}")
        return container

    yield start
    left = remove_labelled(docker_client, f"{TEST_LABEL}={SUITE}", session_filter())
    if left:
        say(request.config, f"removed containers still present at session end: {', '.join(left)}")
