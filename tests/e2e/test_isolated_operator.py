"""`make e2e`: the operator who reaches the cluster only through its Docker contexts (SSH to each host's
engine, no route to the hosts' addresses), reproduced on one machine.

pdcompose runs in a container with no network at all (`--network none`): the rehearsed hosts' 127.0.x.y
addresses are that container's own loopback, where nothing listens. Its only way out is the Docker
engine's socket, mounted in; its contexts are created inside it and point at that socket. Its topology,
bundle and bench results live in the container's own filesystem, not on the engine's. From there it
deploys the guide rehearsed (7 hosts, real vllm-router, mock vLLM), reads status, restarts the decodes,
and takes everything down; every step must say the hosts were reached through their contexts.

The container runs this checkout's own pdcompose (the repository and the interpreter its .venv was made
from, mounted read-only) with the host's docker CLI and Compose plugin (static binaries, mounted).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pdcompose import defaults
from tests.e2e.kit import leftovers
from tests.helpers import EXAMPLE

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CLUSTER = "e2e-isolated"
FIRST = "127.0.21.10"                  # host i listens on 127.0.21.(10+i): clear of other tests' addresses
ROUTER = "http://127.0.21.16:8123"
CANARY = "hf_iso_CANARY_do_not_print_0123456789"
NAME = f"pdc-isolated-operator-{os.getpid()}"


def docker(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True, timeout=timeout)


def compose_plugin() -> str:
    path = docker("info", "--format",
                  '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}').stdout.strip()
    assert path, "no Docker Compose plugin (make setup installs it)"
    return path


@pytest.fixture(scope="module")
def operator() -> Iterator[str]:
    """The isolated operator's container: no network, the engine's socket, this checkout's pdcompose."""
    # The docker CLI goes on PATH and the Compose plugin into ~/.docker, both outside the interpreter's prefix,
    # which is mounted where it is here unless it is the system's /usr (the base image's own Python 3.11 then).
    mounts = {"/var/run/docker.sock": "/var/run/docker.sock",
              str(Path(shutil.which("docker") or "docker").resolve()): "/opt/pdc-cli/docker",
              compose_plugin(): "/root/.docker/cli-plugins/docker-compose", str(REPO): str(REPO)}
    prefix = Path(sys.base_prefix).resolve()
    if prefix != Path("/usr"):
        mounts[str(prefix)] = str(prefix)
    volumes = [arg for src, dst in mounts.items()
               for arg in ("-v", f"{src}:{dst}" + (":ro" if dst != "/var/run/docker.sock" else ""))]
    path = "/opt/pdc-cli:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    started = docker("run", "-d", "--name", NAME, "--network", "none", *volumes, "-e", "COLUMNS=200", "-e",
                     f"PATH={path}",
                     "--entrypoint", "sleep", defaults.BASE_IMAGE, "infinity")
    assert started.returncode == 0, started.stderr
    topology = EXAMPLE.read_text().replace("name: dsr1-gb200", f"name: {CLUSTER}")
    topology += f"\nrehearsal:\n  enabled: true\n  first_address: {FIRST}\n"
    wrote = docker("exec", "-i", NAME, "sh", "-c", "mkdir -p /op && cat > /op/pdcompose.yaml", stdin=topology)
    assert wrote.returncode == 0, wrote.stderr
    try:
        yield NAME
    finally:
        pdc(NAME, "down", ok=None)                  # whatever happened above
        docker("rm", "-f", NAME)
        for cid in leftovers(CLUSTER)["containers"]:
            docker("rm", "-f", cid)


def pdc(name: str, *args: str, ok: bool | None = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = docker("exec", "-w", "/op", "-e", f"HF_TOKEN={CANARY}", name, str(REPO / ".venv/bin/pdcompose"), *args,
                    timeout=timeout)
    print(f"$ pdcompose {' '.join(args)}  -> {result.returncode}\n{result.stderr[-3000:]}")
    assert CANARY not in result.stdout + result.stderr, "a secret reached the output"
    if ok is not None:
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def reaches_router_from_inside(name: str) -> str:
    probe = (f"import urllib.request\ntry:\n    print(urllib.request.urlopen('{ROUTER}/health', timeout=2).status)\n"
             "except Exception as e:\n    print(type(e).__name__, e)\n")
    return docker("exec", name, str(REPO / ".venv/bin/python"), "-c", probe).stdout.strip()


HOSTS = {f"gb200-n{i}" for i in range(7)}


def test_an_operator_with_only_the_docker_contexts_deploys_inspects_restarts_and_removes(operator: str):
    assert leftovers(CLUSTER) == {"containers": [], "networks": [], "contexts": []}

    deploy = pdc(operator, "deploy", "--json")
    report = json.loads(deploy.stdout)
    assert report["status"] == "ok" and report["smoke"].startswith("200"), report
    assert report["access"] == dict.fromkeys(HOSTS, "context"), report["access"]
    assert f"gb200-n6: reached through its Docker context rehearsal-{CLUSTER}-gb200-n6" in deploy.stderr
    print(f"deploy timings through the contexts: {report['timings']}")
    # The router serves (asked from this machine, which can reach the rehearsal) while the operator cannot
    # open its address: everything above went through the contexts.
    assert httpx.get(f"{ROUTER}/health", timeout=5).status_code == 200
    assert "refused" in reaches_router_from_inside(operator).lower()

    status = pdc(operator, "status", "--json")
    rows = json.loads(status.stdout)
    # Every endpoint asked from the router's host, in one call through its context: no other host's needed.
    assert rows["status"] == "ok" and rows["access"] == {"gb200-n6": "context"}, rows["access"]
    assert len(rows["containers"]) == 7 + 6                     # + a group watchdog beside each multi-node node
    assert {r["state"] for r in rows["recovery"]} == {"serving"}, rows["recovery"]
    assert all(c["state"] == "running" and c["endpoint"] == "200" for c in rows["containers"])
    assert {c["router_view"] for c in rows["containers"] if c["role"] in ("prefill", "decode")} == {"healthy"}
    text = pdc(operator, "status")
    assert "asked from the router's host gb200-n6" in text.stderr
    assert "reached through their Docker contexts: gb200-n6" in text.stderr

    # The load generator runs on the router's host; the result comes back here, fingerprinted; every
    # request is checked against the mock workers' records (read through the contexts too).
    bench = pdc(operator, "bench", "-n", "300", "--max-concurrency", "32",
                "--input-len", "128", "--output-len", "16", "--json",
                "--result", "/op/results/run.json")
    ran = json.loads(bench.stdout)
    assert ran["metrics"]["completed"] == 300 and ran["metrics"]["failed"] == 0, ran["metrics"]
    assert ran["pairing"]["paired"] == 300 and ran["pairing"]["lost"] == ran["pairing"]["duplicated"] == 0
    assert "from gb200-n6 through its Docker context" in bench.stderr
    saved = json.loads(docker("exec", operator, "cat", "/op/results/run.json").stdout)
    assert saved["fingerprint"] == report["fingerprint"] and len(saved["requests"]) == 300
    assert saved["labels"]["load_generator"] == "gb200-n6 (through its Docker context)"

    # A sweep: each point's load generated on the router's host and paired, the summary written here
    sweep = json.loads(pdc(operator, "bench", "--sweep", "concurrency=1,8", "-n", "40", "--input-len", "64",
                           "--output-len", "8", "--verify-pairing", "--no-report", "--json", "--result",
                           "/op/sweep").stdout)
    assert sweep["status"] == "ok" and len(sweep["points"]) == 2 and not sweep["problems"], sweep
    assert report["fingerprint"] in docker("exec", operator, "cat", "/op/sweep/summary.json").stdout

    # The monitoring view, from every node's /metrics (the guide has no Prometheus), through the contexts
    top = json.loads(pdc(operator, "top", "--once", "--json", "--delay", "1").stdout)
    assert top["source"] == "metrics" and len(top["rows"]) == 7 and all(r["up"] for r in top["rows"]), top
    assert sum(r["requests"] or 0 for r in top["rows"] if r["role"] == "prefill") >= 300

    logs = pdc(operator, "logs", "--role", "router", "--tail", "5")
    assert "router" in logs.stdout and logs.stdout.strip()
    doctor = json.loads(pdc(operator, "doctor", "--json").stdout)
    assert doctor["status"] == "ok", doctor

    restarted = pdc(operator, "restart", "--role", "decode")
    assert "restarted decode" in restarted.stdout
    assert "gb200-n4: reached through its Docker context" in restarted.stderr

    pdc(operator, "down")
    assert leftovers(CLUSTER) == {"containers": [], "networks": [], "contexts": []}
    helpers = docker("ps", "-aq", "--filter", "label=io.pdcompose.helper").stdout.split()
    assert helpers == [], "a helper container was left behind"
