"""`down` after an `apply` that failed halfway: the apply added a prefill instance, then a changed prefill
failed to start and was rolled back, so the apply stopped with the deployed bundle (plan.json) unchanged. The
added instance runs on a host that bundle does not know; `down` must remove it too, or the cluster is left
half-removed with nothing saying so. Mock engine, real router, on 127.0.123.x."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.apply.topo import topology
from tests.helpers import run_cli
from tests.integration.conftest import Images

pytestmark = pytest.mark.integration

NAME = "h20d"
FIRST = "127.0.123.10"


def containers() -> list[str]:
    return subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.pdcompose.cluster={NAME}", "--format",
                           '{{.Label "com.docker.compose.service"}}'], capture_output=True, text=True, timeout=60,
                          check=True).stdout.split()


def test_down_removes_what_a_failed_apply_added(images: Images, tmp_path: Path):  # noqa: ARG001
    topo = tmp_path / "pdcompose.yaml"
    topo.write_text(topology(NAME, prefills=1, decodes=1, first=FIRST))
    try:
        deployed = run_cli("deploy", cwd=tmp_path, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        # A second prefill (added first), and the first prefill changed to a definition that fails at start
        # (the mock exits as an engine that cannot start): that step is rolled back and apply stops.
        topo.write_text(topology(NAME, prefills=2, decodes=1, first=FIRST,
                                 prefill_env={0: "PDCOMPOSE_MOCK_EXIT_CODE: '3'"}))
        applied = run_cli("apply", "--defer-router", cwd=tmp_path, timeout=300)
        assert applied.returncode != 0 and "rolled back" in applied.stdout + applied.stderr, applied.stderr
        assert "prefill-1-node-0" in containers()
        downed = run_cli("down", cwd=tmp_path, timeout=300)
        assert downed.returncode == 0, downed.stdout + downed.stderr
        assert containers() == []
    finally:
        run_cli("down", cwd=tmp_path, timeout=300)
        for leftover in subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.pdcompose.cluster={NAME}"],
                                       capture_output=True, text=True, timeout=60).stdout.split():
            subprocess.run(["docker", "rm", "-f", leftover], capture_output=True, timeout=60)
