"""Golden bundles: each case's rendered files, compared as parsed YAML/JSON with tests/golden/<case>/.

Regenerate with `pytest tests/unit/test_golden.py --update-golden` and review the diff like code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, REPO, load_yaml, run_cli, tree_bytes

GOLDEN = REPO / "tests" / "golden"
CASES = {
    "guide": (EXAMPLE, []),
    "guide-rehearsal": (EXAMPLE, ["--rehearsal"]),
    "h100-colocated": (GOLDEN / "h100-colocated" / "topology.yaml", []),
    "kimi-overrides": (GOLDEN / "kimi-overrides" / "topology.yaml", []),
}


def render_case(name: str, out: Path) -> None:
    topology, extra = CASES[name]
    # Render from the repository root with a relative path, so `source:` in the files is stable.
    result = run_cli("render", topology.relative_to(REPO), "-o", out, *extra, cwd=REPO)
    assert result.returncode == 0, result.stderr


def parsed(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            key = str(path.relative_to(folder))
            out[key] = json.loads(path.read_text()) if path.suffix == ".json" else load_yaml(path)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, tmp_path: Path, request: pytest.FixtureRequest):
    out = tmp_path / "out"
    render_case(name, out)
    expected = GOLDEN / name / "expected"
    if request.config.getoption("--update-golden"):
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected, ignore=shutil.ignore_patterns(".pdcompose-render"))
    assert expected.is_dir(), f"no golden files for {name}: run pytest --update-golden and review them"
    assert parsed(out) == parsed(expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_is_byte_identical_on_rerun(name: str, tmp_path: Path):
    render_case(name, tmp_path / "a")
    render_case(name, tmp_path / "b")
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
