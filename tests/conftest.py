"""Test-wide configuration.

Docker-backed tests carry the `docker` marker (`integration` and `e2e` imply it). Without a reachable
engine they skip with a loud reason on a laptop, and FAIL under CI=true: a CI run must never pass by
skipping the tests that matter.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import socket
import subprocess
import sys

import pytest

# testcontainers reads these lazily; set before any container starts. Ryuk would need a registry pull.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

DOCKER_MARKERS = ("docker", "integration", "e2e")


# --- No test reaches the network --------------------------------------------------------------------
# The example's hosts are 10.0.0.x: a test that dials one would depend on whatever answers there. An
# audit hook sees every `socket.connect`/`connect_ex` of this process, whichever thread makes it and
# whatever library (httpx, asyncio's open_connection and sock_connect, plain sockets) asks: loopback
# addresses and unix sockets are allowed, anything else is refused and fails the test that asked.
# Subprocesses (the CLI under run_cli, docker, the containers) are out of its reach: an audit hook
# lives in one interpreter. Those tests keep to loopback rehearsals by construction.
class OutboundConnection(OSError):
    """A test tried to connect outside the loopback range."""


_OUTBOUND: list[str] = []


def _allowed(family: int, address: object) -> bool:
    if family == getattr(socket, "AF_UNIX", None) or not isinstance(address, tuple) or not address:
        return True
    host = str(address[0]).split("%", 1)[0]
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:              # a name: it would be resolved to who knows where
        return False
    return ip.is_loopback or any(ip in net for net in _lab_networks())


def _lab_networks() -> list[ipaddress.IPv4Network]:
    """The networks of the labs that are up on this machine (tests/lab): test hosts this machine made
    itself, in network namespaces on a bridge of its own (pdcompose lab up)."""
    import json
    from pathlib import Path

    nets = []
    for record in Path("/var/lib/pdcompose-lab").glob("*/lab.json"):
        try:
            nets.append(ipaddress.IPv4Network(json.loads(record.read_text())["subnet"]))
        except (OSError, ValueError, KeyError):
            continue
    return [n for n in nets if n.subnet_of(ipaddress.IPv4Network("198.18.0.0/15"))]  # only the benchmarking range


def _guard(event: str, args: tuple[object, ...]) -> None:
    if event != "socket.connect":
        return
    sock, address = args
    if not _allowed(getattr(sock, "family", -1), address):
        _OUTBOUND.append(repr(address))
        raise OutboundConnection(f"tests may not connect outside loopback: {address!r}")


sys.addaudithook(_guard)      # once per session; audit hooks cannot be removed


@pytest.fixture(autouse=True)
def _no_outbound_connections():  # noqa: ANN202
    """Fails a test whose code tried to connect outside loopback, even where the code swallowed the error."""
    _OUTBOUND.clear()
    yield
    tried, _OUTBOUND[:] = list(_OUTBOUND), []
    if tried:
        pytest.fail(f"connected (or tried to) outside the loopback range: {', '.join(sorted(set(tried)))}",
                    pytrace=False)


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(message: str) -> None:
    """Skip LOUDLY on a machine that lacks what a test needs; under CI=true, fail: CI never passes by skipping."""
    if running_in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


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


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--update-golden", default=False) and running_in_ci():
        raise pytest.UsageError("--update-golden rewrites tests/golden/*/expected from the code under test, so "
                                "every golden test would pass: refused under CI=true. Regenerate on a "
                                "workstation and commit the reviewed diff.")
