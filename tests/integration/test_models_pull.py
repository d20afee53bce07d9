"""`pdcompose models pull` for real: each rehearsal host's helper container of the real-engine image (the
only pdcompose image with huggingface_hub, as vllm/vllm-openai has it) downloads the pinned revision from a
local server speaking the hub's file API (tests/models/hubserver.py, HF_ENDPOINT), which refuses requests
without the token. Interrupted mid-file by Ctrl-C and resumed with a Range request; the token in no file,
argument or output. The real hub is not reachable from here: this is what was tested."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdcompose import defaults
from tests.conftest import skip_or_fail
from tests.helpers import REPO as SOURCE_TREE
from tests.models.hub import etag, tiny_model
from tests.models.hubserver import Hub, serve

pytestmark = pytest.mark.integration

REPO = "h25org/tiny-llama"
TOKEN = "hf_h25PullTokenNeverShown0123456789"
CHUNK = 10 << 20           # huggingface_hub writes a download to disk in chunks of 10 MB


@pytest.fixture
def real_image() -> str:
    """models pull runs in the deployment's vLLM image, the one with huggingface_hub: built here when missing
    or out of date, like the other images. images/build.sh holds that image's lock, so while CI builds it
    beside `make test` (.ci/run) this waits for that build rather than use an image about to be replaced."""
    done = subprocess.run([str(SOURCE_TREE / "images" / "build.sh"), "vllm"], cwd=SOURCE_TREE,
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=2400)
    if done.returncode != 0:
        skip_or_fail(f"{defaults.VLLM_CPU_IMAGE} could not be built (make images-vllm): "
                     f"{(done.stdout + done.stderr)[-2000:]}")
    return defaults.VLLM_CPU_IMAGE


def _topology(folder: Path, caches: dict[str, Path]) -> Path:
    hosts = "\n".join(f"  {h}: {{address: 10.0.0.{i}, gpus: [0], hf_cache: {caches[h]}}}"
                      for i, h in enumerate(caches, 1))
    text = (f"name: h25-pull\nmodel: {REPO}\nmodel_revision: main\nhf_token: {{from_env: H25_HF_TOKEN}}\n"
            "args:\n  kv-transfer-config: {kv_connector: NixlConnector, kv_role: kv_both, "
            "kv_load_failure_policy: fail}\n"
            f"hosts:\n{hosts}\n  r: {{address: 10.0.0.9}}\n"
            "prefill: [{nodes: [p]}]\ndecode: [{nodes: [d]}]\nrouter: {host: r}\n"
            "rehearsal: {enabled: true, engine: vllm, first_address: 127.0.125.40}\n")
    path = folder / "pdcompose.yaml"
    path.write_text(text)
    return path


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """In a session of its own, so that Ctrl-C can be sent as a terminal sends it: to the whole group."""
    return subprocess.Popen([sys.executable, "-m", "pdcompose", *args], cwd=SOURCE_TREE, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _remove_contexts(path: Path) -> None:
    from pdcompose import topology
    from pdcompose.engine.contexts import remove_rehearsal_contexts
    from pdcompose.plan import build_plan

    remove_rehearsal_contexts(build_plan(topology.load(path))[0])


def _helpers() -> list[str]:
    return subprocess.run(["docker", "ps", "-q", "--filter", "label=io.pdcompose.helper=models"],
                          capture_output=True, text=True, check=True).stdout.split()


def test_pull_interrupted_and_resumed_with_the_token_as_a_secret(tmp_path: Path, real_image: str) -> None:
    files = tiny_model(seed=7, weights_mb=16)
    hub = Hub(REPO, files, token=TOKEN, refs={"main": ""}, stall_after={"model.safetensors": 12 << 20})
    server = serve(hub, "127.0.125.1")
    caches = {"p": tmp_path / "cache-p", "d": tmp_path / "cache-d"}
    for c in caches.values():
        c.mkdir()
    path = _topology(tmp_path, caches)
    env = {**os.environ, "H25_HF_TOKEN": TOKEN, "HF_ENDPOINT": f"http://127.0.125.1:{server.server_address[1]}"}
    weights = etag(files["model.safetensors"])
    blobs = {h: c / "hub" / ("models--" + REPO.replace("/", "--")) / "blobs" for h, c in caches.items()}
    outputs = []
    try:
        # The hub stalls after 12 MB of the weights (once): the first host to ask keeps 10 MB on disk.
        first = _cli("models", "pull", str(path), env=env)
        deadline = time.monotonic() + 120
        partial = None
        while partial is None and time.monotonic() < deadline and first.poll() is None:
            partial = next((b / f"{weights}.incomplete" for b in blobs.values()
                            if (b / f"{weights}.incomplete").exists()
                            and (b / f"{weights}.incomplete").stat().st_size >= CHUNK), None)
            time.sleep(0.2)
        assert partial is not None, first.communicate(timeout=30)
        os.killpg(first.pid, signal.SIGINT)
        outputs += first.communicate(timeout=60)
        assert first.returncode != 0
        for _ in range(50):                      # the helpers stop with their client, keeping the partial file
            if not _helpers():
                break
            time.sleep(0.2)
        assert _helpers() == []
        held = partial.stat().st_size
        assert held >= CHUNK

        hub.release.set()
        again = _cli("models", "pull", "--json", str(path), env=env)
        outputs += again.communicate(timeout=300)
        assert again.returncode == 0, outputs[-1]
        report = json.loads(outputs[-2])
        assert set(report["commits"]) == {"p", "d"} and set(report["commits"].values()) == {hub.commit}
        resumed = [r for method, p, _, r in hub.log if method == "GET" and p.endswith("/model.safetensors") and r]
        assert resumed == [f"bytes={held}-"]                          # one Range request, from what was kept
        for b in blobs.values():
            assert (b / weights).read_bytes() == files["model.safetensors"]
        assert {auth for _, _, auth, _ in hub.log} == {"auth"}         # every request carried the token

        status = subprocess.run([sys.executable, "-m", "pdcompose", "models", "status", "--json", str(path)],
                                cwd=SOURCE_TREE, env=env, capture_output=True, text=True, timeout=120)
        outputs += [status.stdout, status.stderr]
        assert status.returncode == 0, status.stderr
        assert {r["commit"] for r in json.loads(status.stdout)["hosts"]} == {hub.commit}
    finally:
        hub.release.set()
        server.shutdown()
        _remove_contexts(path)
    assert all(TOKEN not in text for text in outputs)
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert on_disk == []


def test_pull_refuses_without_the_token_in_the_environment(tmp_path: Path) -> None:
    path = _topology(tmp_path, {"p": tmp_path / "a", "d": tmp_path / "b"})
    env = {k: v for k, v in os.environ.items() if k != "H25_HF_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "pdcompose", "models", "pull", str(path)], cwd=SOURCE_TREE,
                          env=env, capture_output=True, text=True, timeout=120)
    _remove_contexts(path)
    assert done.returncode != 0 and "H25_HF_TOKEN is not set here" in done.stderr
