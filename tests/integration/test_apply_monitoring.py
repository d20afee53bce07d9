"""`pdcompose apply` when the change reaches Prometheus: an added prefill instance changes the scrape targets,
so the monitoring container is recreated too. It is no API server (no /health, no model list, nothing in the
router), so apply must neither drain it nor gate it like one: it waits for Docker's own health check. Found
with the real engine on the lab (tests/e2e/real_apply.py), where apply waited for Prometheus's /health until
its timeout. Mock engine, real router and Prometheus, on 127.0.122.x."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.apply.topo import deploy_fresh, topology
from tests.helpers import run_cli
from tests.integration.conftest import Images

pytestmark = pytest.mark.integration

NAME = "h20m"
FIRST = "127.0.122.10"
PROMETHEUS = "http://127.0.122.15:9090"          # on the router's host r, the sixth address
MONITORING = "monitoring: {enabled: true, scrape_interval: 1s}\n"


def monitoring_container() -> tuple[str, str]:
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.pdcompose.cluster={NAME}", "--filter",
                          "label=com.docker.compose.service=prometheus", "--format", "{{.ID}} {{.Status}}"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split(maxsplit=1)
    return out[0], out[1].strip()


def scraped() -> set[str]:
    targets = httpx.get(f"{PROMETHEUS}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return {t["labels"].get("instance", "") for t in targets}     # pdcompose's instance label: "prefill-1"


@pytest.fixture()
def folder(images: Images, tmp_path: Path) -> Iterator[Path]:  # noqa: ARG001
    (tmp_path / "pdcompose.yaml").write_text(topology(NAME, prefills=1, decodes=1, first=FIRST) + MONITORING)
    deploy_fresh(tmp_path)
    yield tmp_path
    run_cli("down", cwd=tmp_path, timeout=300)
    subprocess.run(["docker", "context", "rm", "-f", f"rehearsal-{NAME}-p1"], capture_output=True, timeout=60)


def test_an_added_instance_recreates_prometheus_which_is_gated_on_its_own_health(folder: Path):
    before, _ = monitoring_container()
    (folder / "pdcompose.yaml").write_text(topology(NAME, prefills=2, decodes=1, first=FIRST) + MONITORING)
    plan = json.loads(run_cli("apply", "--dry-run", "--json", cwd=folder).stdout)
    assert {s["step"] + " " + s["instance"] for s in plan["changes"]} >= {"add prefill-1", "change monitoring"}, plan
    # --timeout 60: what an API server's gate on Prometheus would have waited for, and failed
    result = run_cli("apply", "--defer-router", "--timeout", "60", cwd=folder, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    after, status = monitoring_container()
    assert after != before and "(healthy)" in status, status
    assert "prefill-1" in scraped(), scraped()
