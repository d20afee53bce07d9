"""Golden bundles: each case's rendered files, compared byte for byte with tests/golden/<case>/expected
(quoting, comments and order are what an operator reads).

Regenerate with `pytest tests/unit/test_golden.py --update-golden` (refused under CI=true) and review the
diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, REPO, assert_golden, run_cli, tree_bytes

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


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, tmp_path: Path, request: pytest.FixtureRequest):
    out = tmp_path / "out"
    render_case(name, out)
    assert_golden(out, GOLDEN / name / "expected", update=request.config.getoption("--update-golden"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_is_byte_identical_on_rerun(name: str, tmp_path: Path):
    render_case(name, tmp_path / "a")
    render_case(name, tmp_path / "b")
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
