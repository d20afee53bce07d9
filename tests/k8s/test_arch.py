"""Issue 24: where the profile states the hosts' CPU architecture (GB200: arm64, H100: amd64), the
Compose services state `platform: linux/<arch>` and every pod is pinned to nodes of that architecture
(`kubernetes.io/arch`); a rehearsal (every host the local engine) states neither. And NOTES.md says that
the router image has to reach a registry the cluster pulls from."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import EXAMPLE, REPO, load_yaml, run_cli
from tests.k8s.conftest import Case

EXPECTED = {"guide": "arm64", "kimi-overrides": "arm64", "h100-colocated": "amd64"}


def pod_specs(case: Case) -> list[dict]:
    specs = []
    for obj in case.objects():
        if obj["kind"] == "LeaderWorkerSet":
            lwt = obj["spec"]["leaderWorkerTemplate"]
            specs += [lwt[t]["spec"] for t in ("leaderTemplate", "workerTemplate") if t in lwt]
        elif obj["kind"] == "Deployment":
            specs.append(obj["spec"]["template"]["spec"])
    return specs


def test_every_host_states_its_profiles_arch(case: Case) -> None:
    arch = EXPECTED[case.name]
    assert {h["arch"] for h in case.plan["hosts"]} == {arch}
    for host in case.plan["hosts"]:
        services = load_yaml(case.compose / host["name"] / "compose.yaml")["services"]
        assert {s["platform"] for s in services.values()} == {f"linux/{arch}"}, host["name"]


def test_every_pod_is_pinned_to_nodes_of_that_arch(case: Case) -> None:
    specs = pod_specs(case)
    assert specs and all(s["nodeSelector"] == {"kubernetes.io/arch": EXPECTED[case.name]} for s in specs)


def test_a_rehearsal_states_no_platform(tmp_path: Path) -> None:
    result = run_cli("render", EXAMPLE.relative_to(REPO), "--rehearsal", "-o", tmp_path / "out", cwd=REPO)
    assert result.returncode == 0, result.stderr
    for path in (tmp_path / "out").glob("*/compose.yaml"):
        assert all("platform" not in s for s in load_yaml(path)["services"].values()), path


def test_notes_say_the_router_image_must_be_in_a_registry(case: Case) -> None:
    """A cluster pulls by name: the locally built router image is of no use to it until pushed."""
    notes = (case.k8s / "NOTES.md").read_text()
    provide = notes.split("## The cluster must provide", 1)[1].split("##", 1)[0]
    image = next(o for o in case.objects() if o["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"][0]["image"]
    line = next(line for line in provide.splitlines() if f"`{image}`" in line)
    assert "in a registry the nodes can pull from" in line and "docker push" in line
    assert f"ARCH={EXPECTED[case.name]} images/build.sh router" in line
