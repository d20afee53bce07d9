"""Every malformed topology in tests/bad/ gets a clean error: exit 2, the field and its line, the fix,
no traceback, and the output directory exactly as it was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.figures import LINES
from tests.helpers import EXAMPLE, REPO, run_cli, tree_bytes

BAD = sorted((REPO / "tests" / "bad").glob("*.yaml"))
proven: list[str] = []       # cases whose every assertion held, for the figure printed at the end


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if proven:
        LINES.append(f"[bad input] {len(proven)} malformed inputs ({len(BAD)} topologies in tests/bad, plus empty, "
                     "directory, missing, non-UTF-8, oversized): each a clean error with exit 2, its field and "
                     "line, no traceback, the previous bundle untouched")


def expectations(path: Path) -> tuple[str, int | None]:
    text = path.read_text()
    expect = re.search(r"^# expect: (.+)$", text, re.M)
    line = re.search(r"^# line: (\d+)$", text, re.M)
    assert expect, f"{path.name} has no '# expect:' header"
    return expect.group(1), int(line.group(1)) if line else None


@pytest.fixture(scope="module")
def previous_render(tmp_path_factory) -> Path:
    """A bundle from an earlier, valid render: a failing render must leave it untouched."""
    out = tmp_path_factory.mktemp("prev") / "out"
    assert run_cli("render", EXAMPLE, "-o", out).returncode == 0
    return out


def test_the_corpus_is_large_enough():
    assert len(BAD) >= 40


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_topology_is_a_clean_error(path: Path, previous_render: Path):
    expect, line = expectations(path)
    before = tree_bytes(previous_render)
    result = run_cli("render", path, "-o", previous_render)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert expect in result.stderr, result.stderr
    located = f"{path}:{line}:" if line else f"{path}"
    assert any(located in row and expect in row for row in result.stderr.splitlines()), result.stderr
    assert "nothing was written" in result.stderr
    assert tree_bytes(previous_render) == before
    proven.append(path.name)


@pytest.mark.parametrize("content", [b"", b"\n\n# only a comment\n"], ids=["empty", "comments-only"])
def test_empty_file(tmp_path: Path, content: bytes):
    path = tmp_path / "pdcompose.yaml"
    path.write_bytes(content)
    result = run_cli("validate", path)
    assert result.returncode == 2 and "the file is empty; `pdcompose init` writes a starter topology" in result.stderr
    proven.append("empty")


def test_directory_instead_of_file(tmp_path: Path):
    result = run_cli("validate", tmp_path)
    assert result.returncode == 2 and f"error: {tmp_path}: is a directory" in result.stderr
    proven.append("directory")


def test_missing_file_names_the_default(tmp_path: Path):
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: pdcompose.yaml: no such file (pass -f FILE, or run `pdcompose init` to write one)" in result.stderr
    proven.append("missing")


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    result = run_cli("validate", path)
    assert result.returncode == 2 and "is not UTF-8 text" in result.stderr
    proven.append("not utf-8")


def test_oversized_file(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text("name: t\n" + "# padding\n" * 200_000)
    result = run_cli("validate", path)
    assert result.returncode == 2 and "a topology file is limited to" in result.stderr
    proven.append("oversized")


def test_every_error_of_a_layer_is_reported_at_once(tmp_path: Path):
    """Three independent planner errors in one file: all three are listed, each with its line."""
    text = (REPO / "tests" / "bad" / "conflicting-dp-size.yaml").read_text()
    text = text.replace("router: {host: r}", "router: {host: a, port: 8087}")
    text = text.replace("prefill: [{nodes: [a]}]", "prefill: [{nodes: [a], tp: 4}]")
    path = tmp_path / "t.yaml"
    path.write_text(text)
    result = run_cli("validate", path)
    assert result.returncode == 2
    for expected in (f"{path}:13:30: decode[0].args.data-parallel-size", f"{path}:12:24: prefill[0].tp: tp 4",
                     f"{path}:14:1: router: port 8087 on host 'a' is taken twice"):
        assert expected in result.stderr, result.stderr


def test_json_errors(tmp_path: Path):
    import json

    result = run_cli("validate", REPO / "tests" / "bad" / "unknown-host.yaml", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 2 and data["status"] == "error"
    assert data["issues"][0]["path"] == "decode[0].nodes[1]" and data["issues"][0]["line"] == 13
