"""Helpers shared by tests: run the real CLI, read rendered files, split argv into flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pdcompose.progress import Silent

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "deepseek-r1-gb200.yaml"


def run_cli(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed `pdcompose` command, exactly as a user runs it (a fresh process each time)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pdcompose", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def load_yaml(path: Path) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(path.read_text())


def flag_values(argv: list[str]) -> dict[str, list[list[str]]]:
    """`--flag v1 v2` -> {"--flag": [["v1", "v2"]]}; a flag given twice has two entries."""
    out: dict[str, list[list[str]]] = {}
    current: list[str] | None = None
    for token in argv:
        if token.startswith("--"):
            current = []
            out.setdefault(token, []).append(current)
        elif current is not None:
            current.append(token)
    return out


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_no_hang(elapsed: float, bound: float, hang: str) -> None:
    """A test's timing bound is about a hang only, never about speed: `bound` lies far above what the
    operation takes even on a loaded 2-core machine, and below the `hang` it guards against (a timeout that
    did not fire, a body waited for). How fast the operation is belongs to `make bench`, as a ratio to its
    timeout (benchmarks/timeouts.py)."""
    assert elapsed < bound, f"took {elapsed:.1f} s (bound {bound:g} s, about a hang only): {hang}"


def assert_golden(out: Path, expected: Path, *, update: bool) -> None:
    """The files under `out` equal `expected` byte for byte (dotfiles aside: the render marker): quoting,
    comments and key order are what an operator reads, and the renderer is deterministic. `update`
    (pytest --update-golden, refused under CI by conftest) rewrites `expected` first."""
    import difflib
    import shutil

    if update:
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected, ignore=shutil.ignore_patterns(".*"))
    assert expected.is_dir(), f"no golden files in {expected}: run pytest --update-golden and review them"

    def files(folder: Path) -> dict[str, bytes]:
        return {name: data for name, data in tree_bytes(folder).items()
                if not any(part.startswith(".") for part in Path(name).parts)}

    got, want = files(out), files(expected)
    assert sorted(got) == sorted(want), f"rendered files differ from {expected}"
    for name in sorted(want):
        if got[name] != want[name]:
            diff = difflib.unified_diff(want[name].decode(errors="replace").splitlines(keepends=True),
                                        got[name].decode(errors="replace").splitlines(keepends=True),
                                        f"golden/{name}", f"rendered/{name}")
            raise AssertionError(f"{name} differs from its golden file (pytest --update-golden rewrites it; "
                                 f"review the diff):\n{''.join(diff)}")


# Plain-text `vllm serve` flags (vLLM 0.13.0) that neither pdcompose nor the mock interprets: quoting tests
# carry arbitrary values through them, since pdcompose refuses flags vLLM does not have.
TEXT_FLAGS = ("code-revision", "tokenizer-revision", "ssl-keyfile", "response-role", "root-path", "hf-config-path",
              "download-dir", "middleware", "log-config-file")


def text_flag_args(values: dict[str, str]) -> dict[str, tuple[str, str]]:
    """{name: value} -> {name: (args key, the argv token that precedes or holds the value)}; a value that
    starts with '-' is joined (`--flag=value`), as vLLM's parser needs."""
    assert len(values) <= len(TEXT_FLAGS)
    out = {}
    for (name, value), flag in zip(values.items(), TEXT_FLAGS, strict=False):
        out[name] = (f"{flag}=", f"--{flag}=") if value.startswith("-") else (flag, f"--{flag}")
    return out


def value_in_argv(argv: list[str], token: str) -> str:
    """The value a flag token carries: joined (`--flag=value`) or the next token."""
    if token.endswith("="):
        return next(t for t in argv if t.startswith(token))[len(token):]
    return argv[argv.index(token) + 1]


class Steps(Silent):
    """A deploy/restart/doctor reporter (pdcompose.progress.Reporter) that keeps its steps and targets."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.targets: list[tuple[object, object]] = []

    def step(self, text: str) -> None:
        self.lines.append(text)

    def target(self, target: object, probe: object) -> None:
        self.targets.append((target, probe))
