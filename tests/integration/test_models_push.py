"""`pdcompose models push/status` with real transfers: the tiny model made in tests/models/hub.py goes from an
operator's cache to several rehearsal hosts through their Docker contexts, each host with its own cache
directory on this machine (two of them sharing one, as a shared filesystem would), into helper containers
of the mock vLLM image. Interrupted mid-blob and resumed from the partial file; a host whose cache is a
4 MB tmpfs refused before any byte moves; a corrupt source blob refused on arrival; a revision mismatch
caught by status, doctor and deploy (nothing started)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from pdcompose import topology
from pdcompose.doctor.runner import run_doctor
from pdcompose.engine.contexts import ensure_rehearsal_contexts, remove_rehearsal_contexts
from pdcompose.models.inventory import inventory
from pdcompose.models.push import NoRoom, push
from pdcompose.plan import build_plan
from pdcompose.progress import Silent
from tests.conftest import skip_or_fail
from tests.helpers import run_cli
from tests.models.hub import etag, tiny_model, write_cache

pytestmark = pytest.mark.integration

REPO = "h25org/tiny-llama"
WEIGHTS_MB = 8


def _topology(folder: Path, caches: dict[str, Path], name: str, extra: str = "") -> Path:
    hosts = "\n".join(f"  {h}: {{address: 10.0.0.{i}, gpus: [0], hf_cache: {caches[h]}}}"
                      for i, h in enumerate(caches, 1))
    decodes = ", ".join(f"{{nodes: [{h}]}}" for h in list(caches)[1:])
    text = (f"name: {name}\nmodel: {REPO}\n{extra}"
            "args:\n  kv-transfer-config: {kv_connector: NixlConnector, kv_role: kv_both, "
            "kv_load_failure_policy: fail}\n"
            f"hosts:\n{hosts}\n  r: {{address: 10.0.0.9}}\n"
            f"prefill: [{{nodes: [{next(iter(caches))}]}}]\ndecode: [{decodes}]\nrouter: {{host: r}}\n"
            "vllm_version: 0.13.0\nrehearsal: {enabled: true, first_address: 127.0.125.10}\n")
    path = folder / "pdcompose.yaml"
    path.write_text(text)
    return path


def _plan(path: Path):
    plan = build_plan(topology.load(path))[0]
    ensure_rehearsal_contexts(plan)
    return plan


class Recorder(Silent):
    """Bytes advanced per host; raises KeyboardInterrupt (as Ctrl-C would) once `stop_after` have gone to one."""

    def __init__(self, stop_after: dict[str, int] | None = None) -> None:
        self.sent: dict[str, int] = {}
        self.stop_after = stop_after or {}

    def advance(self, key: str, size: int) -> None:
        self.sent[key] = self.sent.get(key, 0) + size
        if key in self.stop_after and self.sent[key] >= self.stop_after[key]:
            raise KeyboardInterrupt


@pytest.fixture
def cluster(tmp_path: Path, images):
    source = tmp_path / "operator" / "hub"
    files = tiny_model(seed=25, weights_mb=WEIGHTS_MB)
    commit = write_cache(source, REPO, files)
    caches = {"p": tmp_path / "cache-p", "d1": tmp_path / "cache-shared", "d2": tmp_path / "cache-shared"}
    for c in caches.values():
        c.mkdir(exist_ok=True)
    path = _topology(tmp_path, caches, "h25-push")
    plan = _plan(path)
    yield path, plan, source, files, commit, caches
    remove_rehearsal_contexts(plan)


def _wait_for_helpers(seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ps = subprocess.run(["docker", "ps", "-q", "--filter", "label=io.pdcompose.helper=models"],
                            capture_output=True, text=True, check=True)
        if not ps.stdout.strip():
            return
        time.sleep(0.2)
    pytest.fail("models helper containers still running")


def _blob(cache: Path, data: bytes) -> Path:
    return cache / "hub" / ("models--" + REPO.replace("/", "--")) / "blobs" / etag(data)


def test_push_to_several_hosts_interrupted_then_resumed(cluster) -> None:
    path, plan, source, files, commit, caches = cluster
    weights = files["model.safetensors"]
    vllm_hosts = [h for h in plan.hosts if h.hf_cache]

    # Ctrl-C once 3 MB of the weights have gone to p: the shared cache (d1 for d2 too) completes meanwhile.
    with pytest.raises(KeyboardInterrupt):
        push(plan, vllm_hosts, source, Recorder(stop_after={"p": 3 << 20}), at_once=2)
    _wait_for_helpers()                   # the killed client's helper may still be writing what it had received
    partial = _blob(caches["p"], weights).with_name(etag(weights) + ".incomplete")
    assert partial.exists() and 0 < partial.stat().st_size < len(weights)
    assert not _blob(caches["p"], weights).exists()          # never in place unless whole and checked
    held = partial.stat().st_size

    again = Recorder()
    report = push(plan, vllm_hosts, source, again)
    assert report.ok, report.failed
    assert report.shared == {"d2": "d1"}                              # one cache, one copy
    # config.json arrived whole before the interruption; the weights resume at `held`; the rest is new
    assert report.resumed["p"] == held and report.skipped["p"] == 1
    assert again.sent["p"] == report.sent["p"] == len(weights) - held + len(files["tokenizer_config.json"])
    assert report.sent["d1"] == 0 and report.skipped["d1"] == len(files)   # already there: nothing resent
    for host in ("p", "d1"):
        assert hashlib.sha256(_blob(caches[host], weights).read_bytes()).digest() == hashlib.sha256(weights).digest()

    result = run_cli("models", "status", "--json", path)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["caches"] == 2
    rows = {r["host"]: r for r in status["hosts"]}
    assert {r["commit"] for r in rows.values()} == {commit} and all(r["state"] == "ok" for r in rows.values())
    assert rows["d2"]["shared_with"] == ["d1"] and rows["p"]["bytes"] == sum(len(v) for v in files.values())
    assert rows["p"]["free_bytes"] > 0


def test_mismatch_is_caught_by_status_doctor_and_deploy(cluster) -> None:
    path, plan, source, files, commit, caches = cluster
    assert push(plan, [h for h in plan.hosts if h.hf_cache], source, Recorder()).ok
    other = write_cache(caches["d1"] / "hub", REPO, tiny_model(seed=26, weights_mb=1))   # d1/d2 "updated"
    assert other != commit

    status = run_cli("models", "status", "--json", path)
    assert status.returncode == 1
    rows = {r["host"]: r for r in json.loads(status.stdout)["hosts"]}
    assert {h: r["state"] for h, r in rows.items()} == {"p": "mismatch", "d1": "mismatch", "d2": "mismatch"}

    weights = [r for r in run_doctor(plan, plan.hosts, checks=("engine", "weights")) if r.check == "weights"]
    assert [(r.host, r.status) for r in weights] == [("p", "fail"), ("d1", "fail"), ("d2", "fail")]
    assert f"p {commit}" in weights[0].detail and f"d1 {other}" in weights[0].detail

    deploy = run_cli("deploy", path)
    assert deploy.returncode != 0
    assert "deploy refused, nothing was started" in deploy.stderr
    assert f"p {commit}" in deploy.stderr and f"d1 {other}" in deploy.stderr and "model_revision" in deploy.stderr
    ps = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.pdcompose.cluster=h25-push"],
                        capture_output=True, text=True, check=True)
    assert ps.stdout.strip() == ""

    # Pinned to the first commit: every host must hold exactly it; after a push, they do (refs untouched).
    pinned = path.read_text().replace(f"model: {REPO}\n", f"model: {REPO}\nmodel_revision: {commit}\n")
    path.write_text(pinned)
    assert run_cli("models", "status", path).returncode == 0


def test_corrupt_source_blob_is_refused_on_arrival(cluster) -> None:
    path, plan, source, files, commit, caches = cluster
    blob = _blob(source.parent, files["model.safetensors"])
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF                                   # same size, other bytes: only the hash can tell
    blob.write_bytes(bytes(data))
    report = push(plan, [h for h in plan.hosts if h.hf_cache], source, Recorder())
    assert set(report.failed) == {"p", "d1"}
    assert "arrived as sha256" in report.failed["p"] and "deleted there" in report.failed["p"]
    weights = _blob(caches["p"], files["model.safetensors"])
    assert not weights.exists() and not weights.with_name(weights.name + ".incomplete").exists()


@pytest.fixture
def small_cache(tmp_path: Path):
    mount = tmp_path / "small-cache"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a 4 MB tmpfs for the no-space case (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_host_without_space_is_refused_before_any_byte_moves(tmp_path: Path, images, small_cache: Path) -> None:
    source = tmp_path / "operator" / "hub"
    write_cache(source, REPO, tiny_model(seed=25, weights_mb=WEIGHTS_MB))
    roomy = tmp_path / "cache-p"
    roomy.mkdir()
    plan = _plan(_topology(tmp_path, {"p": roomy, "d": small_cache}, "h25-room"))
    try:
        with pytest.raises(NoRoom, match=r"d: .*small-cache has \d+ MB free, needs 8 MB"):
            push(plan, [h for h in plan.hosts if h.hf_cache], source, Recorder())
        assert not (roomy / "hub").exists() and not (small_cache / "hub").exists()     # nothing moved, anywhere
        inv = inventory(plan, [h for h in plan.hosts if h.hf_cache])
        assert inv.caches["d"].free < 4 << 20
    finally:
        remove_rehearsal_contexts(plan)


def test_push_from_one_host_to_the_others(cluster, tmp_path: Path) -> None:
    path, plan, source, files, commit, caches = cluster
    p = plan.host("p")
    assert push(plan, [p], source, Recorder()).ok                     # only p has it now
    report = push(plan, [h for h in plan.hosts if h.hf_cache], tmp_path / "no-such-cache", Recorder(), from_host=p)
    assert report.ok, report.failed
    assert set(report.sent) == {"d1"} and report.shared == {"d2": "d1"}     # p is the source, d2 shares d1's cache
    assert report.sent["d1"] == sum(len(v) for v in files.values())
    for data in files.values():
        assert _blob(caches["d1"], data).read_bytes() == data
    rows = json.loads(run_cli("models", "status", "--json", path).stdout)["hosts"]
    assert {r["host"]: (r["state"], r["commit"]) for r in rows} == dict.fromkeys(("p", "d1", "d2"), ("ok", commit))


def test_deploy_refuses_a_missing_revision_unless_allowed_to_download(cluster) -> None:
    path, plan, source, files, commit, caches = cluster
    refused = run_cli("deploy", path)
    assert refused.returncode != 0 and "deploy refused, nothing was started" in refused.stderr
    assert f"p: {REPO} revision main is not in {caches['p']}" in refused.stderr
    assert "models pull" in refused.stderr and "models push" in refused.stderr and "--allow-download" in refused.stderr
    try:
        allowed = run_cli("deploy", "--allow-download", path)
        assert allowed.returncode == 0, allowed.stderr
        assert "weights: vLLM will download h25org/tiny-llama@main on d1, d2, p (--allow-download)" in allowed.stderr, \
            allowed.stderr
    finally:
        assert run_cli("down", path).returncode == 0


def test_a_rehearsal_without_the_cache_directory_is_not_blocked(tmp_path: Path, images) -> None:
    """The guide's hf_cache (/mnt/hf-cache) does not exist on this machine, and a rehearsal mounts no cache:
    deploy and doctor leave those hosts out of the weights check, and say so (make e2e rehearses the guide)."""
    from pdcompose.deploy.weights import require_weights
    from tests.helpers import EXAMPLE

    text = EXAMPLE.read_text().replace("name: dsr1-gb200", "name: h25-guide")
    path = tmp_path / "guide.yaml"
    path.write_text(text + "\nrehearsal: {enabled: true, first_address: 127.0.125.60}\n")
    plan = _plan(path)
    steps: list[str] = []
    try:
        report = Recorder()
        report.step = steps.append  # type: ignore[method-assign]
        assert require_weights(plan, plan.hosts, False, 30.0, report) == []
        assert steps and steps[0].startswith("weights: rehearsal: not checked on gb200-n0, ")
        weights = [r for r in run_doctor(plan, plan.hosts, checks=("engine", "weights")) if r.check == "weights"]
        assert weights and {r.status for r in weights} == {"skip"}
    finally:
        remove_rehearsal_contexts(plan)
