"""The README's figures are the last full `make bench` run's (benchmarks/figures.json), rendered by
benchmarks/readme.py: no figure in that table was typed by hand or left behind by an older run, and the
record says which commit, date and machine produced it."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import re
import subprocess

import pytest

from benchmarks import provenance, readme
from benchmarks.common import REPO, Figure


def record() -> dict:
    return json.loads(readme.FIGURES.read_text())


def figures() -> list[dict]:
    return record()["figures"]


def test_the_readme_table_is_the_committed_bench_run() -> None:
    text = readme.README.read_text()
    assert text.count(readme.BEGIN) == 1 and text.count(readme.END) == 1
    assert readme.updated(text, record()) == text, (
        "README.md's figures differ from benchmarks/figures.json: run `make bench` (or "
        "`python benchmarks/readme.py benchmarks/figures.json`) and commit both")


def test_the_committed_summary_is_what_make_bench_writes() -> None:
    fields = [f.name for f in dataclasses.fields(Figure)]
    loaded = figures()
    assert loaded and all(list(f) == fields for f in loaded)
    sections = {f["section"] for f in loaded}
    assert len(sections) >= 4             # every section of a full run: cli, router (twice), deploy, load


def test_the_committed_run_names_its_commit_date_and_machine() -> None:
    prov = record()["provenance"]
    assert provenance.missing(record()) == []
    assert re.fullmatch(r"[0-9a-f]{40}", prov["commit"])
    known = subprocess.run(["git", "cat-file", "-e", f"{prov['commit']}^{{commit}}"], cwd=REPO, capture_output=True)
    assert known.returncode == 0, f"benchmarks/figures.json: commit {prov['commit']} is not in this repository"
    assert datetime.datetime.fromisoformat(prov["date"]).tzinfo is not None
    m = prov["machine"]
    assert isinstance(m["cpu_count"], int) and m["cpu_count"] > 0 and m["memory_bytes"] > 2**30


def test_a_record_without_provenance_is_refused(tmp_path, monkeypatch) -> None:
    complete = record()
    monkeypatch.setattr(readme, "FIGURES", tmp_path / "figures.json")     # a failure must not touch the repo
    monkeypatch.setattr(readme, "README", tmp_path / "README.md")
    readme.README.write_text(f"{readme.BEGIN}\n{readme.END}\n")
    for cut in (["provenance"], ["provenance", "commit"], ["provenance", "machine", "cpu_model"],
                ["provenance", "machine", "memory_bytes"]):
        broken = copy.deepcopy(complete)
        *parents, last = cut
        holder = broken
        for key in parents:
            holder = holder[key]
        del holder[last]
        assert provenance.missing(broken), cut
        (tmp_path / "summary.json").write_text(json.dumps(broken))
        with pytest.raises(SystemExit, match="no provenance"):
            readme.publish(tmp_path / "summary.json")
    assert not readme.FIGURES.exists()


def test_the_readme_names_the_run_s_commit_and_machine() -> None:
    prov = record()["provenance"]
    line = provenance.line(prov)
    assert prov["commit"][:12] in line and prov["date"][:10] in line and prov["machine"]["cpu_model"] in line
    assert f"{readme.BEGIN}\n{line}\n" in readme.README.read_text()
    edited = copy.deepcopy(record())
    edited["provenance"]["machine"]["cpu_count"] += 1       # another machine: the README no longer agrees
    assert readme.updated(readme.README.read_text(), edited) != readme.README.read_text()


def test_make_bench_records_this_checkout_and_machine() -> None:
    prov = provenance.collect()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert prov["commit"] == head and isinstance(prov["dirty"], bool)
    assert provenance.missing({"provenance": prov}) in ([], ["machine.docker"])   # docker: absent without an engine


def test_a_table_names_each_section_once_and_marks_misses() -> None:
    rows = [dataclasses.asdict(Figure("cli", "help", 0.2, "s", "< 0.3 s", True)),
            dataclasses.asdict(Figure("cli", "render", 1.5, "s", "< 1 s", False)),
            dataclasses.asdict(Figure("load", "requests/s", 741.0, "req/s"))]
    assert readme.table(rows).splitlines()[2:] == ["| cli | help | 0.2 s | < 0.3 s | yes |",
                                                   "|  | render | 1.5 s | < 1 s | **no** |",
                                                   "| load | requests/s | 741.0 req/s |  |  |"]
    with pytest.raises(ValueError, match="has no"):
        readme.updated("no markers here", {"provenance": record()["provenance"], "figures": rows})
