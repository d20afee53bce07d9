"""The entry (`entry:`, images/entry) in front of the real vllm-router and mock workers, in a rehearsal on
127.0.131.x, deployed through the CLI as a user runs it: the TLS handshake with the operator's certificate
(a CA and a certificate made here with `cryptography`), 401 without a client key or with a wrong one, 200
with one, an SSE stream arriving chunk by chunk through it (the mock spaces tokens 150 ms apart: a buffering
proxy would deliver them at once), `pdcompose bench` through it with every request paired, its exporter's
metrics, and no key in `docker inspect` or the rendered files; the image itself refuses to start without
usable client keys."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pdcompose import defaults
from tests.entrycerts import Pki, make_pki
from tests.faults.conftest import leftover_containers
from tests.helpers import REPO, run_cli
from tests.topologies import pd_topology

pytestmark = pytest.mark.docker
CLUSTER = "h21entry"
ROUTER = "127.0.131.22"            # p 127.0.131.20, d .21, r .22
PORT = 10443
URL = f"https://{ROUTER}:{PORT}"
KEYS = "ck-h21-0123456789abcdef,ck-h21-second-key"
CLUSTER_KEY = "sk-h21-cluster-0123456789"
TOKEN_MS = 150
ENV = {"H21E_CLIENT_KEYS": KEYS, "H21E_KEY": CLUSTER_KEY}
TOPOLOGY = pd_topology(CLUSTER, first="127.0.131.20", model="entry/model",
                       rehearsal=f"load_delay: 0.2, decode_ms_per_token: {TOKEN_MS}", extra=(
                           "api_key: {from_env: H21E_KEY}\n"
                           f"entry: {{port: {PORT}, certificate: {{from_file: pki/entry.pem}}, "
                           "key: {from_file: pki/entry.key}, client_keys: {from_env: H21E_CLIENT_KEYS}, "
                           "ca: {from_file: pki/ca.pem}}\n"))


def cli(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, cwd=folder, env=ENV, timeout=timeout)
    print(f"$ pdcompose {' '.join(args)}  -> {result.returncode}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    build = subprocess.run([str(REPO / "images" / "build.sh"), "mock", "router", "entry"], cwd=REPO,
                           env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    folder = tmp_path_factory.mktemp("entry")
    pki = make_pki(folder / "pki", ROUTER)
    (folder / "pdcompose.yaml").write_text(TOPOLOGY)
    try:
        t0 = time.monotonic()
        deployed = cli(folder, "deploy")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        print(f"deploy with the entry: {time.monotonic() - t0:.1f} s")
        yield folder, pki
    finally:            # `docker rm -f` rather than `pdcompose down` (tested elsewhere): seconds off CI's budget
        leftovers = leftover_containers(CLUSTER)
        if leftovers:
            subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, timeout=120)


def client(pki: Pki, key: str | None = None) -> httpx.Client:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca)), headers=headers, timeout=30)


def test_tls_with_the_operators_certificate(stack):
    _, pki = stack
    context = ssl.create_default_context(cafile=str(pki.ca))
    with socket.create_connection((ROUTER, PORT), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=ROUTER) as tls:
        served = tls.getpeercert(binary_form=True)
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert served == x509.load_pem_x509_certificate(pki.certificate.read_bytes()).public_bytes(Encoding.DER)
    with pytest.raises(ssl.SSLCertVerificationError), socket.create_connection((ROUTER, PORT), timeout=10) as raw, \
            ssl.create_default_context().wrap_socket(raw, server_hostname=ROUTER):
        pass                          # the system's trust store does not know the operator's CA


def test_client_keys_401_without_200_with(stack):
    _, pki = stack
    with client(pki) as c:
        none = c.get(f"{URL}/v1/models")
        health = c.get(f"{URL}/health")
    with client(pki, "ck-h21-wrong-key") as c:
        wrong = c.get(f"{URL}/v1/models")
    with client(pki, CLUSTER_KEY) as c:           # the cluster's key is no client key
        cluster = c.get(f"{URL}/v1/models")
    assert (none.status_code, wrong.status_code, cluster.status_code, health.status_code) == (401, 401, 401, 401)
    assert none.json() == {"error": "Unauthorized"}
    for key in KEYS.split(","):
        with client(pki, key) as c:
            models = c.get(f"{URL}/v1/models")
        assert models.status_code == 200, models.text
        assert models.json()["data"][0]["id"] == "entry/model"


def test_an_sse_stream_arrives_chunk_by_chunk(stack):
    _, pki = stack
    tokens = 8
    body = {"model": "entry/model", "prompt": "one two three", "max_tokens": tokens, "stream": True,
            "ignore_eos": True}
    arrivals: list[float] = []
    with client(pki, KEYS.split(",")[0]) as c, c.stream("POST", f"{URL}/v1/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        t0 = time.monotonic()
        buffer = b""
        for chunk in response.iter_raw():
            buffer += chunk
            arrivals += [time.monotonic() - t0] * chunk.count(b"data: {")
    assert buffer.rstrip().endswith(b"data: [DONE]")
    assert len(arrivals) == tokens, buffer[-500:]
    # The mock sends a token every 150 ms: unbuffered, they arrive spread over ~1 s, not in one read.
    spread = arrivals[-1] - arrivals[0]
    print(f"SSE through the entry: {tokens} token frames over {spread:.2f} s: {[round(a, 2) for a in arrivals]}")
    # Buffered (proxy_buffering on, tried by hand) all 8 arrived in one read: spread 0.0 s.
    assert spread >= (tokens - 2) * TOKEN_MS / 1000
    assert len({round(a, 2) for a in arrivals}) >= tokens // 2      # a loaded machine may join two reads


def test_bench_through_the_entry_pairs(stack):
    folder, pki = stack
    before = _requests_served()
    result = cli(folder, "bench", "-n", "8", "--input-len", "16", "--output-len", "2", "--max-concurrency", "4",
                 "--json", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "ok" and out["metrics"]["completed"] == 8
    assert out["pairing"]["ok"] and out["pairing"]["paired"] == 8
    saved = json.loads((folder / out["result"]).read_text())
    assert saved["config"]["base_url"] == URL and saved["labels"]["entry"] == URL
    assert _requests_served() - before >= 8       # they went through nginx


def test_the_entry_reports_its_health_and_metrics(stack):
    assert httpx.get(f"http://{ROUTER}:18443/health", timeout=5).status_code == 200
    metrics = httpx.get(f"http://{ROUTER}:9113/metrics", timeout=5).text
    assert "nginx_up 1" in metrics and "nginx_connections_active" in metrics


def test_no_key_in_docker_inspect_or_the_bundle(stack):
    folder, pki = stack
    secrets = [*KEYS.split(","), CLUSTER_KEY, pki.key.read_text().splitlines()[1]]
    for cid in leftover_containers(CLUSTER):
        inspect = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, timeout=60).stdout
        assert not [s for s in secrets if s in inspect], cid
    for path in folder.rglob("*"):
        if path.is_file() and "pki" not in path.parts and "bench-results" not in path.parts:
            data = path.read_bytes()
            assert not [s for s in secrets if s.encode() in data], path


def _requests_served() -> float:
    text = httpx.get(f"http://{ROUTER}:9113/metrics", timeout=5).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("nginx_http_requests_total"))


@pytest.mark.parametrize(("keys", "says"), [
    ("", "entry_client_keys is missing or empty"),
    ('ck-ok-1, ck"quote', "client key number 2 has a character outside"),
])
def test_the_entry_refuses_to_start_without_usable_keys(stack, tmp_path: Path, keys: str, says: str):
    _, pki = stack
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "entry_certificate").write_bytes(pki.certificate.read_bytes())
    (secrets / "entry_key").write_bytes(pki.key.read_bytes())
    (secrets / "entry_client_keys").write_text(keys)
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{secrets}:/run/secrets:ro",
                           "--label", "io.pdcompose.test=integration", defaults.ENTRY_IMAGE],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 78 and says in done.stderr, done.stderr
    assert "ck-ok-1" not in done.stdout + done.stderr           # keys are never printed


def test_prometheus_accepts_the_entrys_job_and_its_alert_fires(tmp_path: Path):
    """promtool (Debian's Prometheus, the monitoring image) on the rendered files of a topology with an entry:
    the config and rules load, and PdcomposeEntryDown fires when the exporter reads nginx as down."""
    from pdcompose import topology
    from pdcompose.plan import build_plan
    from pdcompose.render import render

    build = subprocess.run([str(REPO / "images" / "build.sh"), "prometheus"], cwd=REPO, capture_output=True,
                           text=True, timeout=900, env={**os.environ, "PYTHON": sys.executable})
    assert build.returncode == 0, build.stdout + build.stderr
    make_pki(tmp_path / "pki", ROUTER)
    resolved = topology.from_text(TOPOLOGY + "monitoring: {enabled: true}\n", "t.yaml", tmp_path)
    render(build_plan(resolved)[0], tmp_path / "out")
    folder = tmp_path / "out" / "r" / "prometheus"
    (folder / "entry-test.yml").write_text(json.dumps({
        "rule_files": ["rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m",
                   "input_series": [{"series": 'nginx_up{job="pdcompose-entry", host="r", role="entry"}',
                                     "values": "1 0 0 0 0"}],
                   "alert_rule_test": [{"eval_time": "4m", "alertname": "PdcomposeEntryDown", "exp_alerts": [{
                       "exp_labels": {"severity": "critical", "job": "pdcompose-entry", "host": "r", "role": "entry"},
                       "exp_annotations": {
                           "summary": "the entry (TLS door) on r is down",
                           "description": "Its exporter does not answer, or cannot read nginx's stub_status: clients "
                                          "cannot reach the router. See `pdcompose status` and the entry's logs."}}]},
                                       {"eval_time": "1m", "alertname": "PdcomposeEntryDown", "exp_alerts": []}]}]}))

    def promtool(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "promtool",
                               "-v", f"{folder}:/etc/pdcompose:ro", "-w", "/etc/pdcompose",
                               "--label", "io.pdcompose.test=integration", defaults.PROMETHEUS_IMAGE, *args],
                              capture_output=True, text=True, timeout=120)

    for args in (("check", "config", "/etc/pdcompose/prometheus.yml"), ("check", "rules", "/etc/pdcompose/rules.yml"),
                 ("test", "rules", "entry-test.yml")):
        done = promtool(*args)
        assert done.returncode == 0, (args, done.stdout + done.stderr)
    assert "pdcompose-entry" in (folder / "prometheus.yml").read_text()
