"""Real mock vLLM processes for the benchmark's end-to-end tests.

Each server binds its own 127.0.0.1xx address (the mock's own tests use 127.0.0.2xx), every wait is
bounded, and every process started is killed when its fixture ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT = 30.0


class MockServer:
    def __init__(self, host: str, port: int, env: dict[str, str], logdir: Path) -> None:
        self.url = f"http://{host}:{port}"
        self.log = logdir / f"mock-{host}-{port}.log"
        argv = [sys.executable, "-m", "pdcompose.mock", "serve", "mock-model", "--host", host, "--port", str(port)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mock {self.url} exited {self.proc.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"mock {self.url}: /health not 200 within {STARTUP_TIMEOUT} s: {self.tail()}")

    def reset(self) -> None:
        httpx.post(f"{self.url}/mock/reset", timeout=5).raise_for_status()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _serve(host: str, port: int, env: dict[str, str], tmp_path_factory) -> Iterator[MockServer]:
    server = MockServer(host, port, env, tmp_path_factory.mktemp("mock"))
    try:
        server.wait_healthy()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def paced_mock(tmp_path_factory) -> Iterator[MockServer]:
    """A mock that spends 2 ms per generated token, so that TTFT, ITL and E2E differ measurably."""
    env = {"PDCOMPOSE_MOCK_PREFILL_MS_PER_1K": "0", "PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": "2"}
    yield from _serve("127.0.0.121", 18121, env, tmp_path_factory)


@pytest.fixture(scope="module")
def free_mock(tmp_path_factory) -> Iterator[MockServer]:
    """A mock with every simulated cost at zero: what is measured is the client and the server's code."""
    env = {"PDCOMPOSE_MOCK_PREFILL_MS_PER_1K": "0", "PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": "0"}
    yield from _serve("127.0.0.122", 18122, env, tmp_path_factory)
