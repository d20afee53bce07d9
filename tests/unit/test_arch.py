"""CPU architectures: both spellings normalised to Docker's, stated by the hardware profiles, recorded
per host in the plan (and plan.json), and absent from rehearsals (every host is the local engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdcompose import arch, defaults, topology
from pdcompose.errors import TopologyError
from pdcompose.plan import build_plan
from pdcompose.plan.builder import fingerprint
from pdcompose.topology.presets import load_profile
from tests.helpers import EXAMPLE, REPO, run_cli


@pytest.mark.parametrize(("spelling", "docker"), [
    ("amd64", "amd64"), ("x86_64", "amd64"), ("X86_64", "amd64"), ("x86-64", "amd64"),
    ("arm64", "arm64"), ("aarch64", "arm64"), ("AArch64", "arm64"), ("arm64/v8", "arm64"),
    ("linux/arm64", "arm64"), ("linux/amd64", "amd64"), (" aarch64\n", "arm64"), ("ppc64le", "ppc64le"),
])
def test_normalize_takes_docker_and_uname_spellings(spelling: str, docker: str) -> None:
    assert arch.normalize(spelling) == docker


@pytest.mark.parametrize("value", [None, "", "sparc", "arm65", "linux/"])
def test_normalize_unknown_is_none(value: str | None) -> None:
    assert arch.normalize(value) is None


def test_same_and_describe() -> None:
    assert arch.same("x86_64", "amd64") and arch.same("aarch64", "arm64")
    assert arch.same("amd64", "aarch64") is False
    assert arch.same("amd64", None) is None and arch.same("amd64", "what") is None
    assert arch.describe("arm64") == "arm64 (aarch64)" and arch.describe("amd64") == "amd64 (x86_64)"
    assert arch.describe(None) == "unknown"


def test_build_fix_says_how() -> None:
    own = arch.build_fix(defaults.ROUTER_IMAGE, "arm64")
    assert "ARCH=arm64 images/build.sh router" in own and "aarch64" in own
    other = arch.build_fix("vllm/vllm-openai:v0.13.0", "arm64")
    assert "docker pull --platform linux/arm64 vllm/vllm-openai:v0.13.0" in other


def test_profiles_state_their_arch() -> None:
    assert load_profile("gb200", REPO).arch == "arm64"
    assert load_profile("h100-ib", REPO).arch == "amd64"


@pytest.mark.parametrize(("written", "stored"), [("aarch64", "arm64"), ("x86_64", "amd64"), ("arm64", "arm64")])
def test_own_profile_accepts_uname_spelling(tmp_path: Path, written: str, stored: str) -> None:
    (tmp_path / "p.yaml").write_text(f"description: mine\narch: {written}\n")
    assert load_profile("./p.yaml", tmp_path).arch == stored


def test_own_profile_with_a_bad_arch_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("description: mine\narch: sparc64\n")
    with pytest.raises(TopologyError, match="not a CPU architecture.*arm64 .aarch64"):
        load_profile("./bad.yaml", tmp_path)


def test_plan_records_each_hosts_arch() -> None:
    plan, _ = build_plan(topology.load(EXAMPLE))
    assert {h.name: h.arch for h in plan.hosts} == {f"gb200-n{i}": "arm64" for i in range(7)}
    h100, _ = build_plan(topology.load(REPO / "tests" / "golden" / "h100-colocated" / "topology.yaml"))
    assert {h.arch for h in h100.hosts} == {"amd64"}


def test_plan_without_profile_or_in_rehearsal_has_no_arch() -> None:
    text = (REPO / "tests" / "bad" / "conflicting-port-arg.yaml").read_text().replace("  port: 9000\n", "")
    plan, _ = build_plan(topology.from_text(text, "t.yaml"))
    assert {h.arch for h in plan.hosts} == {None}
    rehearsed, _ = build_plan(topology.load(EXAMPLE), rehearsal=True)
    assert {h.arch for h in rehearsed.hosts} == {None}


def test_arch_is_not_part_of_the_fingerprint() -> None:
    plan, _ = build_plan(topology.load(EXAMPLE))
    moved = plan.model_copy(update={"hosts": [h.model_copy(update={"arch": None}) for h in plan.hosts]})
    assert fingerprint(moved) == plan.fingerprint


def test_plan_json_carries_the_arch(tmp_path: Path) -> None:
    assert run_cli("render", EXAMPLE, "-o", tmp_path / "out").returncode == 0
    saved = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert {h["name"]: h["arch"] for h in saved["hosts"]}["gb200-n6"] == "arm64"
