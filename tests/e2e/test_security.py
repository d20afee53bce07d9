"""`make e2e`, security: a small PD rehearsal (1 prefill, 1 decode, the router; mock engines) with
`api_key: {from_env: ...}`, driven through the CLI. The key reaches no argv, environment block or
`docker inspect`; every API server answers /v1/* 401 without it (vLLM's body) and serves with it, while
/health and /metrics stay open; each API server listens on its own address only; the deploy gate, status
and a paired bench through the router (which sends the key itself) all work."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.kit import leftovers
from tests.helpers import run_cli
from tests.topologies import pd_topology

pytestmark = pytest.mark.e2e
CLUSTER = "h21-sec"
FIRST = "127.0.121.10"                       # p, d, r: 127.0.121.10-12 (issue 21's range)
KEY = "h21-e2e-Key-5b0c1f2a9d8e7f60"
ENV = {"H21_E2E_KEY": KEY}
TOPOLOGY = pd_topology(CLUSTER, first=FIRST, model="org/model", image="vllm/vllm-openai:v0.13.0",
                       rehearsal="load_delay: 0.5", extra="api_key: {from_env: H21_E2E_KEY}\n")
WORKERS = {"p": "127.0.121.10", "d": "127.0.121.11"}


def cli(folder: Path, *args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, cwd=folder, env=ENV, timeout=timeout)
    print(f"$ pdcompose {' '.join(args)}  -> {result.returncode}")
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def containers() -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.pdcompose.cluster={CLUSTER}"],
                         capture_output=True, text=True, timeout=60).stdout
    return out.split()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    subprocess.run([str(Path(__file__).resolve().parents[2] / "images" / "build.sh"), "mock", "router"],
                   check=True, capture_output=True, timeout=1800)
    folder = tmp_path_factory.mktemp("h21-sec")
    (folder / "pdcompose.yaml").write_text(TOPOLOGY)
    cli(folder, "deploy", timeout=600)
    yield folder
    run_cli("down", cwd=folder, env=ENV, timeout=300)
    for cid in containers():
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
    assert leftovers(CLUSTER)["containers"] == []


def test_the_key_is_in_no_file_and_no_docker_inspect(folder: Path):
    for path in (folder / "out-rehearsal").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path
    ids = containers()
    assert len(ids) == 3
    inspect = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, timeout=60, check=True)
    assert KEY not in inspect.stdout
    for c in json.loads(inspect.stdout):
        assert not any(e.startswith(("VLLM_API_KEY=", "OPENAI_API_KEY=")) for e in c["Config"]["Env"])


@pytest.mark.parametrize("host", sorted(WORKERS))
def test_v1_needs_the_key_and_health_and_metrics_stay_open(folder: Path, host: str):
    base = f"http://{WORKERS[host]}:8087"
    bare = httpx.get(f"{base}/v1/models", timeout=5)
    wrong = httpx.get(f"{base}/v1/models", headers={"Authorization": "Bearer nope"}, timeout=5)
    keyed = httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    completion = httpx.post(f"{base}/v1/completions", json={"model": "org/model", "prompt": "x", "max_tokens": 1},
                            timeout=5)
    assert (bare.status_code, wrong.status_code, keyed.status_code, completion.status_code) == (401, 401, 200, 401)
    assert bare.json() == {"error": "Unauthorized"}
    assert httpx.get(f"{base}/health", timeout=5).status_code == 200
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200


@pytest.mark.parametrize("host", sorted(WORKERS))
def test_each_api_server_listens_on_its_own_address_only(folder: Path, host: str):
    other = "127.0.121.99"                   # another loopback address of the same machine, in no topology
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex((other, 8087)) != 0
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex((WORKERS[host], 8087)) == 0


def test_status_and_a_paired_bench_through_the_router(folder: Path):
    status = json.loads(cli(folder, "status", "--json").stdout)
    assert status["status"] == "ok", status
    bench = json.loads(cli(folder, "bench", "-n", "20", "--max-concurrency", "4", "--input-len", "32",
                           "--output-len", "8", "--json").stdout)
    assert bench["metrics"]["completed"] == 20 and bench["metrics"]["failed"] == 0
    pairing = bench["pairing"]
    assert pairing["checked"] == 20 and pairing["paired"] == 20, pairing
