"""Golden manifests for the guide's deployment: tests/golden/k8s-guide/expected, compared byte for byte.
Regenerate with `pytest tests/k8s/test_golden_k8s.py --update-golden` (refused under CI=true) and review the
diff like code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, REPO, assert_golden, run_cli, tree_bytes

EXPECTED = REPO / "tests" / "golden" / "k8s-guide" / "expected"


def export(out: Path) -> None:
    result = run_cli("export", "k8s", EXAMPLE.relative_to(REPO), "-o", out, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_golden_manifests(tmp_path: Path, request: pytest.FixtureRequest):
    out = tmp_path / "k8s"
    export(out)
    assert_golden(out, EXPECTED, update=request.config.getoption("--update-golden"))


def test_export_is_byte_identical_on_rerun(tmp_path: Path):
    export(tmp_path / "a")
    export(tmp_path / "b")
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
