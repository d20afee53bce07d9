"""Test-wide configuration.

Docker-backed tests carry the `docker` marker (`integration` and `e2e` imply it). Without a reachable
engine they skip with a loud reason on a laptop, and FAIL under CI=true: a CI run must never pass by
skipping the tests that matter.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

# testcontainers reads these lazily; set before any container starts. Ryuk would need a registry pull.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

DOCKER_MARKERS = ("docker", "integration", "e2e")


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@functools.cache
def docker_unavailable_reason() -> str | None:
    """None when a Docker Engine and the Compose v2 plugin answer; otherwise why not."""
    if shutil.which("docker") is None:
        return "no `docker` CLI on PATH"
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out after 20 s"
    if info.returncode != 0:
        return f"no Docker Engine answers `docker info`: {info.stderr.strip().splitlines()[-1:]}"
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=20)
    if compose.returncode != 0:
        return "the Docker Compose v2 plugin is missing (run `make setup`)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not any(item.get_closest_marker(m) for m in DOCKER_MARKERS):
        return
    reason = docker_unavailable_reason()
    if reason is None:
        return
    if running_in_ci():
        pytest.fail(f"CI=true but Docker is unavailable: {reason}", pytrace=False)
    pytest.skip(f"SKIPPED FOR LACK OF DOCKER ({reason}); these tests run in CI")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    from tests.figures import LINES

    if LINES:
        terminalreporter.write_sep("=", "figures proven by this run")
        for line in LINES:
            terminalreporter.write_line(line)
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "LACK OF DOCKER" in str(r.longrepr)]
    if skipped:
        terminalreporter.write_sep("!", f"{len(skipped)} Docker tests were SKIPPED: no engine here", red=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="Rewrite tests/golden/*/expected from the current renderer (review the diff like code)")
