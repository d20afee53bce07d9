"""Golden manifests for the guide's deployment: tests/golden/k8s-guide/expected, compared as parsed YAML
(NOTES.md as text). Regenerate with `pytest tests/k8s/test_golden_k8s.py --update-golden` and review the
diff like code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, REPO, run_cli, tree_bytes

EXPECTED = REPO / "tests" / "golden" / "k8s-guide" / "expected"


def export(out: Path) -> None:
    result = run_cli("export", "k8s", EXAMPLE.relative_to(REPO), "-o", out, cwd=REPO)
    assert result.returncode == 0, result.stderr


def parsed(folder: Path) -> dict[str, object]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    return {p.name: list(yaml.load_all(p.read_text())) if p.suffix == ".yaml" else p.read_text()
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def test_golden_manifests(tmp_path: Path, request: pytest.FixtureRequest):
    out = tmp_path / "k8s"
    export(out)
    if request.config.getoption("--update-golden"):
        shutil.rmtree(EXPECTED, ignore_errors=True)
        shutil.copytree(out, EXPECTED, ignore=shutil.ignore_patterns(".pdcompose-render"))
    assert EXPECTED.is_dir(), "no golden manifests: run pytest --update-golden and review them"
    assert parsed(out) == parsed(EXPECTED)


def test_export_is_byte_identical_on_rerun(tmp_path: Path):
    export(tmp_path / "a")
    export(tmp_path / "b")
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
