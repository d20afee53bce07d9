"""`pdcompose apply` on a rehearsal (mock engine, the real vllm-router 0.1.17) under steady load: 16
concurrent streaming completions through the router for the whole of each change, every request judged
like `vllm bench serve` judges it. One deployment (2 prefill, 2 decode instances) for the module; each test
changes the topology from where the previous one left it, as an operator would.

What vllm-router 0.1.17 allows (measured by benchmarks/apply_takeout.py, README "Changing a running
deployment"): an instance leaves the rotation without a failed request (/remove_worker, then a drain on its
metrics), but comes back only when the router restarts, which refuses connections for seconds. So the
zero-failure cases run with --defer-router; the router restart is measured, and reported, on its own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apply.steady import Load
from tests.apply.topo import deploy_fresh, topology
from tests.figures import LINES
from tests.helpers import run_cli
from tests.integration.conftest import Images

pytestmark = pytest.mark.integration

NAME = "h20i"
ROUTER = "http://127.0.120.15:8123"
MODEL = "apply/model"


def containers() -> dict[str, tuple[str, str, str]]:
    """service -> (container id, definition label, status) of the cluster."""
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.pdcompose.cluster={NAME}", "--format",
                          '{{.ID}} {{.Label "com.docker.compose.service"}} {{.Label "io.pdcompose.definition"}} '
                          "{{.State}}"], capture_output=True, text=True, timeout=60, check=True).stdout
    return {svc: (cid, label, state) for cid, svc, label, state in (line.split() for line in out.splitlines())}


def routed() -> set[str]:
    import httpx

    return {w["url"] for w in httpx.get(f"{ROUTER}/workers", timeout=5).json()["workers"]}


@pytest.fixture(scope="module")
def folder(images: Images, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:  # noqa: ARG001
    where = tmp_path_factory.mktemp("apply")
    (where / "pdcompose.yaml").write_text(topology(NAME))
    deploy_fresh(where)
    yield where
    run_cli("down", cwd=where, timeout=300)
    # `down` removes the contexts of the topology's hosts as it is now: p2's went with its instance's removal
    subprocess.run(["docker", "context", "rm", "-f", f"rehearsal-{NAME}-p2"], capture_output=True, timeout=60)


def apply(folder: Path, *args: str, **topo: object) -> tuple[subprocess.CompletedProcess[str], Load, float]:
    """Write the topology, run `pdcompose apply ARGS` under steady load; (result, load, seconds)."""
    (folder / "pdcompose.yaml").write_text(topology(NAME, **topo))  # type: ignore[arg-type]
    with Load(ROUTER, MODEL) as load:
        time.sleep(1)
        t0 = time.monotonic()
        result = run_cli("apply", *args, cwd=folder, timeout=300)
        took = time.monotonic() - t0
        time.sleep(1)
    return result, load, took


def dry(folder: Path) -> dict:
    result = run_cli("apply", "--dry-run", "--json", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_a_flag_change_on_one_of_two_prefills(folder: Path):
    before = containers()
    result, load, took = apply(folder, "--defer-router", prefill_args={0: "max-num-seqs: 64"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.failed == [], load.summary()
    after = containers()
    assert after["prefill-0-node-0"][0] != before["prefill-0-node-0"][0]
    for other in ("prefill-1-node-0", "decode-0-node-0", "decode-1-node-0", "router"):
        assert after[other][0] == before[other][0], f"{other} was restarted"
    assert "http://127.0.120.10:8087" not in routed()          # drained out, waiting for the router restart
    steps = dry(folder)["changes"]
    assert [s["step"] for s in steps] == ["restart-router"] and "re-admits" in steps[0]["what"][0]
    LINES.append(f"apply, prefill flag change (mock, c=16): {len(load.outcomes)} requests, 0 failed, "
                 f"{took:.1f} s for the instance")

    result, load, took = apply(folder, "--allow-downtime", prefill_args={0: "max-num-seqs: 64"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "http://127.0.120.10:8087" in routed()
    LINES.append(f"apply, router restart to re-admit (mock, c=16): {len(load.failed)} of {len(load.outcomes)} "
                 f"requests failed, {took:.1f} s")
    assert dry(folder)["changes"] == []


def test_b_third_prefill_added_then_removed(folder: Path):
    base = {"prefill_args": {0: "max-num-seqs: 64"}}
    before = containers()
    result, load, _ = apply(folder, "--defer-router", prefills=3, **base)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.failed == [], load.summary()
    assert containers()["prefill-2-node-0"][2] == "running"
    result, _, _ = apply(folder, "--allow-downtime", prefills=3, **base)     # takes it into rotation
    assert "http://127.0.120.12:8087" in routed()
    mid = containers()
    result, load, _ = apply(folder, "--defer-router", prefills=2, **base)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.failed == [], load.summary()
    after = containers()
    assert "prefill-2-node-0" not in after
    assert "http://127.0.120.12:8087" not in routed()
    for svc in ("prefill-0-node-0", "prefill-1-node-0", "decode-0-node-0", "decode-1-node-0"):
        assert after[svc][0] == mid[svc][0] == before[svc][0], f"{svc} was restarted"


def test_c_flag_change_on_one_of_two_decodes(folder: Path):
    before = containers()
    result, load, took = apply(folder, "--defer-router", prefill_args={0: "max-num-seqs: 64"},
                               decode_args={1: "max-num-seqs: 32"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.failed == [], load.summary()
    after = containers()
    assert after["decode-1-node-0"][0] != before["decode-1-node-0"][0]
    assert after["decode-0-node-0"][0] == before["decode-0-node-0"][0]
    LINES.append(f"apply, decode flag change (mock, c=16): {len(load.outcomes)} requests, 0 failed, {took:.1f} s")


def test_d_release_change_everywhere_asks_for_downtime(folder: Path):
    before = containers()
    topo = {"prefill_args": {0: "max-num-seqs: 64"}, "decode_args": {1: "max-num-seqs: 32"},
            "image": "vllm/vllm-openai:v0.11.2"}
    (folder / "pdcompose.yaml").write_text(topology(NAME, **topo))  # type: ignore[arg-type]
    result = run_cli("apply", "--defer-router", cwd=folder)
    assert result.returncode != 0
    assert "old prefill must never pair with a new decode" in result.stdout + result.stderr
    assert "--allow-downtime" in result.stdout + result.stderr
    assert containers() == before                             # refused before acting


def test_rollback_when_the_new_definition_fails(folder: Path):
    """With --allow-downtime the rolled-back instance is back in rotation at once, through a router restart
    (its failed requests are that restart's); the other workers are never touched."""
    before = containers()
    topo = {"prefill_args": {0: "max-num-seqs: 64"}, "decode_args": {1: "max-num-seqs: 32"},
            "prefill_env": {1: "PDCOMPOSE_MOCK_EXIT_CODE: '3'"}}
    result, load, took = apply(folder, "--allow-downtime", **topo)
    assert result.returncode != 0
    assert "rolled back to the old definition" in result.stderr
    assert "last log lines of prefill-1-node-0" in result.stderr      # the failing start's log tail
    assert "EngineCore failed to start" in result.stderr
    after = containers()
    assert after["prefill-1-node-0"][1] == before["prefill-1-node-0"][1]      # its old definition
    assert after["prefill-1-node-0"][2] == "running"
    for svc in ("prefill-0-node-0", "decode-0-node-0", "decode-1-node-0"):
        assert after[svc][0] == before[svc][0], f"{svc} was touched"
    assert len(routed()) == 4                                  # back in rotation
    LINES.append(f"apply, failing definition rolled back and re-admitted (mock, c=16): {len(load.failed)} of "
                 f"{len(load.outcomes)} requests failed (the router restart), {took:.1f} s")


def test_interrupted_apply_then_a_second_one_finishes(folder: Path):
    topo = {"prefill_args": {0: "max-num-seqs: 48", 1: "max-num-seqs: 48"},
            "decode_args": {0: "max-num-seqs: 48", 1: "max-num-seqs: 32"}}
    (folder / "pdcompose.yaml").write_text(topology(NAME, **topo))  # type: ignore[arg-type]
    old = containers()
    proc = subprocess.Popen([sys.executable, "-m", "pdcompose", "apply", "--defer-router"], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:                 # Ctrl-C once the first instance is done
        seen += line
        if "prefill-0: done" in line:
            proc.send_signal(signal.SIGINT)
            break
    proc.communicate(timeout=120)
    assert proc.returncode != 0, seen
    mid = containers()
    plan = dry(folder)
    for svc, (_, _label, state) in mid.items():
        assert state == "running", f"{svc} left {state}"
    remaining = {s["instance"] for s in plan["changes"]}
    assert "prefill-0" not in remaining and "decode-0" in remaining, plan
    assert mid["decode-0-node-0"][1] == old["decode-0-node-0"][1]          # old and serving, or new
    result, load, _ = apply(folder, "--allow-downtime", **topo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert dry(folder)["changes"] == []
    assert len(routed()) == 4
