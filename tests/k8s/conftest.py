"""Each case rendered (Compose) and exported (Kubernetes) once per session, through the real CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLE, REPO, load_yaml, run_cli

GOLDEN = REPO / "tests" / "golden"
CASES = {  # the guide (GB200, deepseek recipe), the kimi recipe with overrides, the H100 InfiniBand profile
    "guide": EXAMPLE,
    "kimi-overrides": GOLDEN / "kimi-overrides" / "topology.yaml",
    "h100-colocated": GOLDEN / "h100-colocated" / "topology.yaml",
}


@dataclass
class Case:
    name: str
    compose: Path          # the rendered Compose bundle
    k8s: Path              # the exported manifests
    stdout: str

    @property
    def plan(self) -> dict[str, Any]:
        return json.loads((self.compose / "plan.json").read_text())

    def objects(self) -> list[dict[str, Any]]:
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        out = []
        for path in sorted(self.k8s.glob("*.yaml")):
            if path.name != "kustomization.yaml":
                out += [doc for doc in yaml.load_all(path.read_text()) if doc]
        return out

    def compose_service(self, host: str, service: str) -> dict[str, Any]:
        return load_yaml(self.compose / host / "compose.yaml")["services"][service]


def make_case(name: str, root: Path, *extra: str) -> Case:
    topology = CASES[name].relative_to(REPO)
    rendered = run_cli("render", topology, "-o", root / "compose", cwd=REPO)
    assert rendered.returncode == 0, rendered.stderr
    exported = run_cli("export", "k8s", "-f", topology, "-o", root / "k8s", *extra, cwd=REPO)
    assert exported.returncode == 0, exported.stderr
    assert "Traceback" not in exported.stderr
    return Case(name, root / "compose", root / "k8s", exported.stdout)


@pytest.fixture(scope="session", params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case(request.param, tmp_path_factory.mktemp(request.param))
