"""Fixtures for the mock vLLM tests; the helpers themselves live in mockutil.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from mockutil import MockProcess


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    """spawn(host, port, *args, env={...}) -> MockProcess; all are killed at teardown."""
    started: list[MockProcess] = []

    def start(host: str, port: int, *args: str, env: Mapping[str, str] | None = None) -> MockProcess:
        process = MockProcess(list(args), env or {}, host, port, tmp_path)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.kill()
