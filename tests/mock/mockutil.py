"""Helpers for the mock vLLM tests: in-process apps over ASGI, and real processes on loopback.

Process tests bind 127.0.0.2xx addresses (each test its own) so they never collide with each other or
with services on 127.0.0.1; every wait is bounded, and the `spawn` fixture (conftest.py) kills every
process it started. A plain module rather than conftest so test files can import it by name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from pdcompose.mock.app import create_app
from pdcompose.mock.config import MockConfig, parse_argv
from pdcompose.mock.runtime import Runtime

# Zero simulated cost: tests of the wire format must not wait on the timing model.
FAST = {"PDCOMPOSE_MOCK_PREFILL_MS_PER_1K": "0", "PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": "0"}
NIXL = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
_ENGINE_LABEL = re.compile(r'[{,]\s*engine="([^"]*)"')


def engine_labels(metrics_text: str) -> list[str]:
    """Distinct `engine="N"` label values in Prometheus text, in order of appearance.

    The router splits a worker into this many DP targets (protocol notes, section 2).
    """
    seen: dict[str, None] = {}
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        for value in _ENGINE_LABEL.findall(line):
            seen.setdefault(value, None)
    return list(seen)


def make_config(*args: str, env: Mapping[str, str] | None = None) -> MockConfig:
    return parse_argv(["serve", *args], {**FAST, **(env or {})})


def asgi_client(config: MockConfig, runtime: Runtime | None = None) -> httpx.AsyncClient:
    app = create_app(config, runtime)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock", timeout=10)


class MockProcess:
    """One `python -m pdcompose.mock serve ...` on a loopback address."""

    def __init__(self, args: list[str], env: Mapping[str, str], host: str, port: int, logdir: Path) -> None:
        self.url = f"http://{host}:{port}"
        self.stderr_path = logdir / f"{host}_{port}.err"
        self.stdout_path = logdir / f"{host}_{port}.out"
        argv = [sys.executable, "-m", "pdcompose.mock", "serve", *args, "--host", host, "--port", str(port)]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(argv, env={**os.environ, **FAST, **env}, stdout=out, stderr=err)

    def health(self) -> int | None:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code
        except httpx.HTTPError:
            return None

    def wait_health(self, status: int = 200, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mock {self.url} exited {self.proc.returncode}: {self.stderr()}")
            if self.health() == status:
                return
            time.sleep(0.1)
        pytest.fail(f"mock {self.url}: /health never answered {status} within {timeout} s; "
                    f"last {self.health()}; stderr: {self.stderr()}")

    def wait_exit(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"mock {self.url} still running after {timeout} s")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
