"""The images lock pins images: pull_policy never and the image ID as a label; a bad lock is an error."""

from __future__ import annotations

import shutil
from pathlib import Path

from pdcompose.topology.lock import lock_path, read_lock, write_lock
from tests.helpers import EXAMPLE, load_yaml, run_cli

VLLM_ID = "sha256:" + "a" * 64


def test_locked_images_are_pinned(tmp_path: Path):
    topology = tmp_path / "pdcompose.yaml"
    shutil.copy(EXAMPLE, topology)
    write_lock(topology, {"vllm/vllm-openai:v0.13.0": VLLM_ID})
    assert lock_path(topology) == tmp_path / "pdcompose.lock.json" and read_lock(topology) == {
        "vllm/vllm-openai:v0.13.0": VLLM_ID}
    assert run_cli("render", cwd=tmp_path).returncode == 0
    prefill = load_yaml(tmp_path / "out/gb200-n0/compose.yaml")["services"]["prefill-0-node-0"]
    assert prefill["pull_policy"] == "never" and prefill["labels"]["io.pdcompose.image-id"] == VLLM_ID
    router = load_yaml(tmp_path / "out/gb200-n6/compose.yaml")["services"]["router"]
    assert router["pull_policy"] == "missing" and "io.pdcompose.image-id" not in router["labels"]


def test_a_corrupt_lock_is_a_clean_error(tmp_path: Path):
    topology = tmp_path / "pdcompose.yaml"
    shutil.copy(EXAMPLE, topology)
    lock_path(topology).write_text('{"images": {"vllm/vllm-openai:v0.13.0": "latest"}}')
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "pdcompose.lock.json: vllm/vllm-openai:v0.13.0: not an image ID (sha256:<64 hex>)" in result.stderr
