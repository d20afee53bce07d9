"""One home per kind of code: only engine/ runs the docker CLI (with its timeouts, helper containers); the
rest of pdcompose goes through it (doctor/probe.py is exempt: it is a script that runs inside a container
on the host being checked, not in pdcompose's process). And no two modules import each
other, even through a function-level import: each module's place in the one-way flow is clear."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "pdcompose"
INSIDE_A_CONTAINER = {PACKAGE / "doctor" / "probe.py"}


def imports(path: Path, modules: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """Every module `path` imports, at the top or inside a function, by its dotted name. `from a import b`
    is module a.b where `modules` has it, else a (the parent packages Python imports on the way are not
    counted: a package's __init__ importing its modules is no cycle)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                      for a in node.names}
    return names


def imported_modules(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imports(path)}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                cycles.append(sorted([v, *group]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def runs_docker(path: Path) -> bool:
    """The module starts processes (subprocess) and one of them is the docker CLI: a "docker" argument, or
    engine/cli's argv builder used to run it elsewhere."""
    tree = ast.parse(path.read_text(), str(path))
    if "subprocess" not in imported_modules(path):
        return False
    literal = any(isinstance(n, ast.Constant) and n.value == "docker" for n in ast.walk(tree))
    builder = any(isinstance(n, ast.ImportFrom) and n.module == "pdcompose.engine.cli"
                  and {a.name for a in n.names} & {"argv", "docker_binary"} for n in ast.walk(tree))
    return literal or builder


def test_only_engine_runs_docker():
    outside = [p for p in sorted(PACKAGE.rglob("*.py"))
               if PACKAGE / "engine" not in p.parents and p not in INSIDE_A_CONTAINER]
    running = [str(p.relative_to(REPO)) for p in outside if runs_docker(p)]
    assert running == [], f"run the docker CLI outside pdcompose/engine/ (move the call into engine/): {running}"


def test_a_docker_call_outside_engine_is_seen(tmp_path: Path):
    (tmp_path / "a.py").write_text('import subprocess\nsubprocess.run(["docker", "ps"])\n')
    (tmp_path / "b.py").write_text("import subprocess\nfrom pdcompose.engine.cli import argv\n")
    (tmp_path / "c.py").write_text('import subprocess\nsubprocess.run(["ip", "netns", "add", "x"])\n')
    assert [runs_docker(tmp_path / n) for n in ("a.py", "b.py", "c.py")] == [True, True, False]


def test_no_module_imports_one_that_imports_it():
    modules = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph = {name: {m for m in imports(path, set(modules)) if m in modules and m != name}
             for name, path in modules.items()}
    assert import_cycles(graph) == []


def test_a_cycle_is_found():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_one_frozen_base():
    """Frozen, closed pydantic models derive from pdcompose/frozen.py (Frozen; Strict for what a user writes)
    rather than each restating the config (plain dataclasses are another matter)."""
    restating = [str(p.relative_to(REPO)) for p in sorted(PACKAGE.rglob("*.py"))
                 if p != PACKAGE / "frozen.py" and re.search(r"ConfigDict\([^)]*frozen=True", p.read_text())]
    assert restating == [], f"derive from pdcompose.frozen.Frozen (or Strict) instead: {restating}"
