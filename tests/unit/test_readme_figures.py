"""The README's figures are the last full `make bench` run's (benchmarks/figures.json), rendered by
benchmarks/readme.py: no figure in that table was typed by hand or left behind by an older run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks import readme
from benchmarks.common import Figure


def figures() -> list[dict]:
    return json.loads(readme.FIGURES.read_text())


def test_the_readme_table_is_the_committed_bench_run() -> None:
    text = readme.README.read_text()
    assert text.count(readme.BEGIN) == 1 and text.count(readme.END) == 1
    assert readme.updated(text, figures()) == text, (
        "README.md's figures differ from benchmarks/figures.json: run `make bench` (or "
        "`python benchmarks/readme.py benchmarks/figures.json`) and commit both")


def test_the_committed_summary_is_what_make_bench_writes() -> None:
    fields = [f.name for f in dataclasses.fields(Figure)]
    loaded = figures()
    assert loaded and all(list(f) == fields for f in loaded)
    sections = {f["section"] for f in loaded}
    assert len(sections) >= 4             # every section of a full run: cli, router (twice), deploy, load


def test_a_table_names_each_section_once_and_marks_misses() -> None:
    rows = [dataclasses.asdict(Figure("cli", "help", 0.2, "s", "< 0.3 s", True)),
            dataclasses.asdict(Figure("cli", "render", 1.5, "s", "< 1 s", False)),
            dataclasses.asdict(Figure("load", "requests/s", 741.0, "req/s"))]
    assert readme.table(rows).splitlines()[2:] == ["| cli | help | 0.2 s | < 0.3 s | yes |",
                                                   "|  | render | 1.5 s | < 1 s | **no** |",
                                                   "| load | requests/s | 741.0 req/s |  |  |"]
    with pytest.raises(ValueError, match="has no"):
        readme.updated("no markers here", rows)
