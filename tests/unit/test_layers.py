"""One home per kind of code: only engine/ runs processes against Docker (the docker CLI, helper
containers); the rest of pdcompose goes through it. doctor/probe.py is exempt: it is a script that runs
inside a container on the host being checked, not in pdcompose's process."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "pdcompose"
INSIDE_A_CONTAINER = {PACKAGE / "doctor" / "probe.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_engine_runs_processes():
    outside = [p for p in sorted(PACKAGE.rglob("*.py"))
               if PACKAGE / "engine" not in p.parents and p not in INSIDE_A_CONTAINER]
    running = [str(p.relative_to(REPO)) for p in outside if imported_modules(p) & {"subprocess"}]
    assert running == [], f"run processes outside pdcompose/engine/ (move the Docker call into engine/): {running}"
