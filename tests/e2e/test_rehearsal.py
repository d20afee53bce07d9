"""`make e2e`: the guide's whole 7-host deployment rehearsed on the local Docker engine, driven only
through the pdcompose CLI as a user types it, against the real vllm-router and the mock vLLM image.

One scenario, in order: render, a partial deploy (the guide's node-by-node workflow), the full
health-gated deploy, an idempotent re-deploy, status, 500 benchmark requests paired P->D, a killed
decode seen by status and by the router's /health, a healing re-deploy, down. The module fixture
tears everything down even when a step fails.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from pdcompose import defaults
from tests.e2e.kit import leftovers
from tests.helpers import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e
CLUSTER = "e2e-guide"
FIRST = "127.0.2.10"                   # host i listens on 127.0.2.(10+i): clear of other tests' addresses
ROUTER = "http://127.0.2.16:8123"
CANARY = "hf_e2e_CANARY_do_not_print_0123456789"
ENV = {"HF_TOKEN": CANARY}


def cli(folder: Path, *args: str, ok: bool | None = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, cwd=folder, env=ENV, timeout=timeout)
    print(f"$ pdcompose {' '.join(args)}  -> {result.returncode}")
    assert CANARY not in result.stdout + result.stderr, "a secret reached the output"
    if ok is not None:
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("e2e")
    text = EXAMPLE.read_text().replace("name: dsr1-gb200", f"name: {CLUSTER}")
    (folder / "pdcompose.yaml").write_text(text + f"\nrehearsal:\n  enabled: true\n  first_address: {FIRST}\n")
    yield folder
    run_cli("down", cwd=folder, timeout=300)     # whatever happened above
    for cid in leftovers(CLUSTER)["containers"]:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)


def wait_for(predicate, timeout: float, interval: float = 0.25) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s")


def router_health() -> int:
    try:
        return httpx.get(f"{ROUTER}/health", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_the_guide_rehearsed_end_to_end(folder: Path):
    assert leftovers(CLUSTER) == {"containers": [], "networks": [], "contexts": []}

    cli(folder, "render")
    assert sorted(p.parent.name for p in (folder / "out-rehearsal").glob("*/compose.yaml")) == \
        [f"gb200-n{i}" for i in range(7)]

    # Preflight: every applicable check passes; GPU, device, cache and NIC checks are skipped, and say so.
    doctor = json.loads(cli(folder, "doctor", "--json").stdout)
    checks = doctor["checks"]
    assert doctor["status"] == "ok" and {c["host"] for c in checks} == {f"gb200-n{i}" for i in range(7)}
    assert not [c for c in checks if c["status"] == "fail"]
    assert {c["check"] for c in checks if c["status"] == "pass"} >= {"engine", "images", "address", "ports"}
    skipped = [c for c in checks if c["status"] == "skip"]
    assert {c["check"] for c in skipped} == {"interface", "nvidia-runtime", "gpus", "infiniband", "imex", "gdrcopy",
                                             "devices", "hf-cache", "weights"}
    assert all(c["detail"].startswith("rehearsal: no ") for c in skipped), skipped   # weights: no HF cache mounted

    # Image distribution to the 7 hosts' contexts (all on this one engine, so each already has the ID)
    push = json.loads(cli(folder, "images", "push", "--json").stdout)
    assert push["status"] == "ok" and len(push["skipped"]) == 7 and push["loaded"] == {}
    lock = json.loads((folder / "pdcompose.lock.json").read_text())["images"]
    assert set(lock) == {defaults.MOCK_VLLM_IMAGE, defaults.ROUTER_IMAGE}

    # The guide's per-node workflow, typed exactly as on a real cluster: one host first.
    partial = cli(folder, "deploy", "--context", "gb200-n0")
    assert "also needs prefill-0-node-1 on gb200-n1" in partial.stderr

    full = json.loads(cli(folder, "deploy", "--json").stdout)
    # started by the partial run, with its group watchdog
    assert full["unchanged"]["gb200-n0"] == ["prefill-0-node-0", "prefill-0-node-0-watchdog"]
    assert sum(len(v) for v in full["started"].values()) == 6 + 5
    assert full["smoke"].startswith("200")
    print(f"deploy timings: {full['timings']}")

    again = json.loads(cli(folder, "deploy", "--json").stdout)
    assert sum(len(v) for v in again["started"].values()) == 0, again    # nothing changed: nothing restarted

    status = json.loads(cli(folder, "status", "--json").stdout)
    assert status["status"] == "ok" and len(status["containers"]) == 7 + 6     # + the group watchdogs
    assert all(c["state"] == "running" and c["endpoint"] == "200" for c in status["containers"])

    # The HF token reached the containers as a Compose secret file, never as a value in a file or an output.
    argv = httpx.get("http://127.0.2.10:8087/mock/argv", timeout=5).json()
    assert argv["hf_token_sha256"] == "sha256:" + hashlib.sha256(CANARY.encode()).hexdigest()
    assert not any(CANARY.encode() in p.read_bytes() for p in folder.rglob("*") if p.is_file())

    bench = json.loads(cli(folder, "bench", "-n", "500", "--max-concurrency", "64",
                           "--input-len", "256", "--output-len", "64",
                           "--json").stdout)
    assert bench["metrics"]["completed"] == 500 and bench["metrics"]["failed"] == 0
    assert bench["pairing"]["paired"] == 500 and bench["pairing"]["lost"] == bench["pairing"]["duplicated"] == 0
    assert sum(w.get("prefill", 0) > 0 for w in bench["pairing"]["by_worker"].values()) == 4   # all prefills used
    assert sum(w.get("decode", 0) > 0 for w in bench["pairing"]["by_worker"].values()) == 2

    # A decode dies: status reports it, and the router's runtime check turns /health 503
    # (rehearsal: every 2 s, 3 failures) .
    subprocess.run(["docker", "kill", f"{CLUSTER}-gb200-n4-decode-0-node-0-1"], check=True, capture_output=True)
    took = wait_for(lambda: router_health() == 503, timeout=15)
    print(f"router /health turned 503 {took:.1f} s after the decode was killed")
    degraded = cli(folder, "status", "--json", ok=False)
    rows = {c["service"]: c for c in json.loads(degraded.stdout)["containers"]}
    # exited, or already restarted by its group watchdogs (they act within seconds): not serving either way
    assert not rows["decode-0-node-0"]["ok"], rows["decode-0-node-0"]

    # It heals by itself (recovery: auto): its group watchdogs restart the whole DP group, master first.
    healed = wait_for(lambda: json.loads(cli(folder, "status", "--json", ok=None).stdout)["status"] == "ok",
                      timeout=120)
    print(f"decode-0 serving again {took + healed:.1f} s after its master was killed (no pdcompose command)")
    assert wait_for(lambda: router_health() == 200, timeout=30) >= 0
    again = json.loads(cli(folder, "deploy", "--json").stdout)            # nothing left for deploy to do
    assert sum(len(v) for v in again["started"].values()) == 0, again

    cli(folder, "down")
    assert leftovers(CLUSTER) == {"containers": [], "networks": [], "contexts": []}
