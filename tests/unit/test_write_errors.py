"""Every command that writes a file fails cleanly (exit 1, `error:` naming the path and the reason, no
traceback) when it cannot, and writes atomically when it can: one helper, pdcompose/files.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pdcompose.files import WriteError, write_file
from tests.helpers import run_cli


def read_only_dir(tmp_path: Path) -> Path:
    """A folder this process cannot write to: chmod 555, or (root ignores modes) /sys, read-only in a container."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            (candidate / ".probe").touch()
        except OSError:
            return candidate
        (candidate / ".probe").unlink()
    pytest.skip("no read-only folder available here")


def clean_error(result, *words: str) -> None:  # noqa: ANN001
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_init_into_a_missing_folder_creates_it_like_render(tmp_path: Path):
    result = run_cli("init", "-f", "sub/dir/x.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sub/dir/x.yaml").read_text().startswith("#")
    assert not list((tmp_path / "sub/dir").glob(".*tmp"))        # no temporary file left behind


@pytest.mark.parametrize("command", [["schema", "-o"], ["init", "-f"]])
def test_a_path_through_a_file_is_a_clean_error(command: list[str], tmp_path: Path):
    (tmp_path / "afile").write_text("x")
    clean_error(run_cli(*command, "afile/x.json", cwd=tmp_path), "afile/x.json", "afile is a file, not a folder")


@pytest.mark.parametrize("command", [["schema", "-o"], ["init", "-f"]])
def test_a_read_only_folder_is_a_clean_error(command: list[str], tmp_path: Path):
    folder = read_only_dir(tmp_path)
    clean_error(run_cli(*command, folder / "x.yaml", cwd=tmp_path), f"cannot write {folder / 'x.yaml'}")


def test_a_directory_in_the_way_is_a_clean_error(tmp_path: Path):
    (tmp_path / "x.json").mkdir()
    clean_error(run_cli("schema", "-o", "x.json", cwd=tmp_path), "x.json: it is a directory")


def test_bench_report_into_an_existing_file_is_a_clean_error(tmp_path: Path):
    from tests.bench.test_bench_sweep import sweep

    sweep(tmp_path, "s")
    (tmp_path / "taken").write_text("mine")
    clean_error(run_cli("bench", "report", tmp_path / "s", "--result", tmp_path / "taken", cwd=tmp_path),
                "taken is a file, not a folder")
    assert (tmp_path / "taken").read_text() == "mine"


def test_bench_report_names_the_file_it_was_given(tmp_path: Path):
    (tmp_path / "junk.json").write_text('{"x": 1}')
    clean_error(run_cli("bench", "report", "junk.json", cwd=tmp_path), "junk.json: not a pdcompose sweep summary")


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def full(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(WriteError, match="no space left"):
        write_file(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
