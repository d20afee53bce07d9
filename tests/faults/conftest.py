"""A small rehearsed stack for fault tests: one prefill, one decode, the router, each on its own host."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.topologies import pd_topology


def leftover_containers(cluster: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.pdcompose.cluster={cluster}"],
                         capture_output=True, text=True, timeout=60).stdout
    return out.split()


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """stack(name, decode_extra="", delay=0.5, extra="") -> a folder holding that topology; torn down after."""
    made: list[tuple[Path, str]] = []

    def make(name: str, *, decode_extra: str = "", delay: float = 0.5, extra: str = "",
             first: str = "127.0.7.10") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "pdcompose.yaml").write_text(pd_topology(name, first=first, decode_extra=decode_extra,
                                                           rehearsal=f"load_delay: {delay}", extra=extra))
        made.append((folder, name))
        return folder

    yield make
    for folder, name in made:
        run_cli("down", cwd=folder, timeout=300)
        for cid in leftover_containers(name):
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
