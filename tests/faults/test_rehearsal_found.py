"""After `deploy --rehearsal`, the day-2 commands typed without --rehearsal find the rehearsal (the real
hosts have nothing: their contexts do not exist) and say so in one line, instead of probing the real
addresses and reporting every container unreachable."""

from __future__ import annotations

import json

import pytest

from tests.faults.conftest import leftover_containers
from tests.helpers import run_cli

pytestmark = pytest.mark.docker
FOUND = "the real hosts of found have nothing deployed; acting on the rehearsal running on the local engine"


def test_day2_commands_find_a_running_rehearsal(stack):
    folder = stack("found", delay=0.2)
    topology = folder / "pdcompose.yaml"
    text = topology.read_text().replace("enabled: true", "enabled: false")
    topology.write_text(text + "image: vllm/vllm-openai:v0.13.0\n")      # a real topology, rehearsed by flag
    deployed = run_cli("deploy", "--rehearsal", cwd=folder, timeout=300)
    assert deployed.returncode == 0, deployed.stderr

    status = run_cli("status", cwd=folder)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stderr.count(FOUND) == 1, status.stderr
    assert "[rehearsal]" in status.stdout and "unreachable" not in status.stdout

    as_json = run_cli("status", "--json", cwd=folder)
    rows = json.loads(as_json.stdout)["containers"]
    assert as_json.returncode == 0 and {r["state"] for r in rows} == {"running"} and all(r["ok"] for r in rows)

    logs = run_cli("logs", "--tail", "3", cwd=folder)
    assert logs.returncode == 0 and FOUND in logs.stderr, logs.stderr
    assert "d/decode-0-node-0" in logs.stdout and "r/router" in logs.stdout

    bench = run_cli("bench", "-n", "4", "--max-concurrency", "2",
                    "--input-len", "8", "--output-len", "4", "--json", cwd=folder)
    assert bench.returncode == 0 and FOUND in bench.stderr, bench.stderr
    assert json.loads(bench.stdout)["metrics"]["completed"] == 4

    restart = run_cli("restart", "--role", "decode", cwd=folder, timeout=300)
    assert restart.returncode == 0 and FOUND in restart.stderr, restart.stderr

    down = run_cli("down", cwd=folder, timeout=300)
    assert down.returncode == 0 and FOUND in down.stderr, down.stderr
    assert leftover_containers("found") == []

