"""Faults a deploy must survive: a hung host, a node that crashes at start, Ctrl-C, a partial deploy
torn down, a decode killed under load. Each reports clearly, exits non-zero, leaves nothing it should
not, and a re-run converges."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pdcompose import topology
from pdcompose.deploy.run import DeployOptions, deploy
from pdcompose.errors import PdcomposeError
from pdcompose.plan import build_plan
from tests.faults.conftest import leftover_containers
from tests.figures import LINES
from tests.helpers import Steps, assert_no_hang, run_cli

pytestmark = pytest.mark.docker
survived: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if survived:
        LINES.append(f"[faults] {len(survived)} faults survived, each reported with a non-zero exit and converging "
                     f"on a re-run: {'; '.join(survived)}")


def test_a_hung_host_fails_at_its_probe_timeout_not_after_a_hang(stack, tmp_path: Path):
    """A Docker endpoint that accepts the connection and never answers (what an ssh context to a dead
    host does): deploy names the host and gives up when its probe times out (5 s here); nothing starts.
    The time bound is about a hang only; how close to its timeout it gives up is `make bench`'s figure."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []

    def hang() -> None:
        with contextlib.suppress(OSError):       # the test closes the server when done: accept() then raises
            for _ in range(64):
                accepted.append(server.accept()[0])

    threading.Thread(target=hang, daemon=True).start()
    context = f"pdc-test-hung-{server.getsockname()[1]}"
    subprocess.run(["docker", "context", "create", context, "--docker",
                    f"host=tcp://127.0.0.1:{server.getsockname()[1]}"], check=True, capture_output=True)
    try:
        folder = stack("faults-hung")
        plan, _ = build_plan(topology.load(folder / "pdcompose.yaml"))
        hosts = [h.model_copy(update={"context": context}) if h.name == "d" else h for h in plan.hosts]
        plan = plan.model_copy(update={"hosts": hosts})
        t0 = time.monotonic()
        with pytest.raises(PdcomposeError) as info:
            deploy(plan, folder / "out-rehearsal", DeployOptions(reach_timeout=5), Steps())
        elapsed = time.monotonic() - t0
    finally:
        subprocess.run(["docker", "context", "rm", "-f", context], capture_output=True)
        server.close()
    # The error text proves the 5 s timeout fired; the bound only rules out the hang: without the timeout
    # the deploy would wait on the silent socket for as long as it stays open.
    assert_no_hang(elapsed, 30, "the deploy waited on a Docker endpoint that never answers")
    assert "d: " in str(info.value) and "did not answer within 5 s" in str(info.value)
    assert leftover_containers("faults-hung") == []
    survived.append("hung host refused by its 5 s probe timeout")


def test_a_node_that_crashes_at_start_is_reported_with_its_logs(stack):
    crash = ", env: {PDCOMPOSE_MOCK_EXIT_CODE: '3', PDCOMPOSE_MOCK_EXIT_AFTER: '1'}"
    folder = stack("faults-crash", decode_extra=crash)
    t0 = time.monotonic()
    result = run_cli("deploy", "--timeout", "600", cwd=folder, timeout=900)
    elapsed = time.monotonic() - t0
    assert result.returncode == 1, result.stderr
    # The container watch reports the exit at once; a gate that only timed out would take the full 600 s.
    # The bound (half of it) is about that hang only: a rehearsed deploy of three mocks takes ~15 s.
    assert_no_hang(elapsed, 300, "the crash was only noticed when the 600 s gate timed out")
    assert "failed: d/decode-0-node-0:" in result.stderr
    assert "EngineCore failed to start" in result.stderr          # its log tail, as vLLM would print it
    assert "state of the hosts now:" in result.stderr
    survived.append("node crashing at start reported by the container watch, before the gate's timeout")


def test_a_node_that_never_turns_ready_times_out_with_its_logs(stack):
    folder = stack("faults-slow", delay=600, first="127.0.12.10")
    result = run_cli("deploy", "--timeout", "6", cwd=folder)
    assert result.returncode == 1, result.stderr
    assert "API servers did not become ready: not ready after 6 s" in result.stderr
    assert "failed: d/decode-0-node-0: /health 503" in result.stderr
    assert "--- last log lines of decode-0-node-0 on d ---" in result.stderr
    assert "Uvicorn running on http://127.0.12.11:8087" in result.stderr      # its log tail, verbatim
    survived.append("a node that never turned ready: timed out with its log tail")


def test_rollback_removes_what_a_failed_deploy_created(stack):
    crash = ", env: {PDCOMPOSE_MOCK_EXIT_CODE: '3', PDCOMPOSE_MOCK_EXIT_AFTER: '1'}"
    folder = stack("faults-rollback", decode_extra=crash, first="127.0.11.10")
    result = run_cli("deploy", "--rollback", "--timeout", "120", cwd=folder)
    assert result.returncode == 1 and "rolling back: removing what this run created" in result.stderr
    assert leftover_containers("faults-rollback") == []
    survived.append("a failed deploy rolled back to nothing")


def test_ctrl_c_during_deploy_then_a_rerun_converges(stack):
    folder = stack("faults-sigint", delay=6)
    # Ctrl-C as a terminal delivers it: a runner started in the background (`cmd &`) ignores SIGINT and
    # its children inherit that, so the child gets the default disposition back before exec.
    proc = subprocess.Popen([sys.executable, "-m", "pdcompose", "deploy"], cwd=folder, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in proc.stderr:                                    # wait until it is inside the health gate
        lines.append(line)
        if "waiting for" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    stderr = "".join(lines) + rest
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    again = run_cli("deploy", "--json", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert json.loads(run_cli("status", "--json", cwd=folder).stdout)["status"] == "ok"
    survived.append("Ctrl-C in the health gate, then a converging re-run")


def test_down_after_a_partial_deploy_removes_everything(stack):
    folder = stack("faults-partial")
    assert run_cli("deploy", "--context", "p", cwd=folder).returncode == 0
    assert len(leftover_containers("faults-partial")) == 1
    assert run_cli("down", cwd=folder).returncode == 0
    assert leftover_containers("faults-partial") == []
    survived.append("down after a partial deploy")


def test_a_decode_killed_under_load_is_reported_honestly(stack):
    folder = stack("faults-kill")
    assert run_cli("deploy", cwd=folder).returncode == 0
    bench = subprocess.Popen([sys.executable, "-m", "pdcompose", "bench", "-n", "600", "--max-concurrency", "32",
                              "--input-len", "64",
                              "--output-len", "400", "--json"], cwd=folder, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    subprocess.run(["docker", "kill", "faults-kill-d-decode-0-node-0-1"], check=True, capture_output=True)
    out, err = bench.communicate(timeout=300)
    assert bench.returncode == 1, err                        # failures are an exit code, not a shrug
    report = json.loads(out)
    metrics = report["metrics"]
    assert metrics["failed"] > 0 and metrics["completed"] + metrics["failed"] == 600
    assert metrics["sample_errors"], "failed requests come with their reasons"
    status = run_cli("status", "--json", cwd=folder)
    rows = {c["service"]: c for c in json.loads(status.stdout)["containers"]}
    assert status.returncode == 1 and rows["decode-0-node-0"]["state"] == "exited"
    survived.append(f"decode killed under load: {metrics['failed']} of 600 requests failed and were reported")
