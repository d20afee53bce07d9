"""Every shipped example passes its own strict mode: a warning on a file we ship is either a defect in
the example or a warning that should not be one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_passes_validate_strict(path: Path):
    result = run_cli("validate", "--strict", path)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
