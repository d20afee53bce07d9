"""Docker itself failing under a command, against the real engine: the error is one clean line with
an exit code, and where the command had acted, the state of the hosts (and what --rollback did)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.conftest import leftover_containers
from tests.helpers import run_cli

pytestmark = pytest.mark.docker


def test_a_docker_error_in_the_container_watch_ends_with_the_state_and_rolls_back(stack):
    """The Docker context of one host disappears while deploy waits for health: the watch's `docker ps`
    fails; deploy stops with the hosts' state, rolls back the others, and reports the host it could not."""
    folder = stack("faults-watch", delay=30)
    proc = subprocess.Popen([sys.executable, "-m", "pdcompose", "deploy", "--rollback"], cwd=folder,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:                                    # wait until it is inside the health gate
        lines.append(line)
        if "waiting for" in line:
            break
    subprocess.run(["docker", "context", "rm", "-f", "rehearsal-faults-watch-d"], check=True, capture_output=True)
    stderr = "".join(lines) + proc.communicate(timeout=120)[1]
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "error: deploy stopped: d: `docker" in stderr, stderr
    assert "state of the hosts now:" in stderr
    assert "p: nothing running" in stderr, stderr            # rolled back
    assert "rollback failed on d:" in stderr, stderr         # the host it could not reach is said, not dropped
    assert len(leftover_containers("faults-watch")) == 1     # d's decode: the teardown removes it


def test_a_broken_docker_config_is_a_clean_error(stack, tmp_path: Path):
    """Docker's CLI cannot list contexts (DOCKER_CONFIG is a file, not a folder): one line, exit 1."""
    folder = stack("faults-config")
    not_a_dir = tmp_path / "docker-config"
    not_a_dir.write_text("")
    for command in ("status", "logs", "down"):
        result = run_cli(command, cwd=folder, env={"DOCKER_CONFIG": str(not_a_dir)})
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "error: cannot prepare the rehearsal's Docker contexts: `docker context" in result.stderr, result.stderr
