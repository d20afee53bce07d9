"""The golden comparison itself: it sees what an operator reads (a quote, a comment, the order of keys),
and CI cannot regenerate the files it checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, assert_golden


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


GOLDEN = {"h/compose.yaml": "# rendered by pdcompose\nservices:\n  a: {image: 'x'}\n  b: {image: y}\n"}


@pytest.mark.parametrize("change", [
    "# edited by hand\nservices:\n  a: {image: 'x'}\n  b: {image: y}\n",     # a comment
    "# rendered by pdcompose\nservices:\n  a: {image: x}\n  b: {image: y}\n",  # quoting
    "# rendered by pdcompose\nservices:\n  b: {image: y}\n  a: {image: 'x'}\n",  # order
])
def test_a_change_that_parses_the_same_still_fails(tmp_path: Path, change: str):
    expected = _tree(tmp_path / "expected", GOLDEN)
    out = _tree(tmp_path / "out", {"h/compose.yaml": change})
    with pytest.raises(AssertionError, match=r"h/compose.yaml differs from its golden file"):
        assert_golden(out, expected, update=False)


def test_a_missing_or_extra_file_fails_and_the_render_marker_is_ignored(tmp_path: Path):
    expected = _tree(tmp_path / "expected", GOLDEN)
    out = _tree(tmp_path / "out", {**GOLDEN, ".pdcompose-render": "marker"})
    assert_golden(out, expected, update=False)
    _tree(out, {"extra/compose.yaml": "services: {}\n"})
    with pytest.raises(AssertionError, match="rendered files differ"):
        assert_golden(out, expected, update=False)


def test_update_golden_is_refused_under_ci():
    env = {**os.environ, "CI": "true"}
    result = subprocess.run([sys.executable, "-m", "pytest", "--update-golden", "--collect-only", "-q",
                             "tests/unit/test_golden.py"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "--update-golden" in result.stderr and "refused under CI=true" in result.stderr
