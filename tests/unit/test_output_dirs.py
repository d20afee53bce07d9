"""Each command's output folder is marked with what wrote it, and one command never replaces another's
output without --force (a Kubernetes export must not silently delete a Compose bundle)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import EXAMPLE, run_cli, tree_bytes


def marker(out: Path) -> str:
    return (out / ".pdcompose-render").read_text()


def test_export_never_replaces_a_compose_bundle_without_force(tmp_path: Path):
    out = tmp_path / "out"
    assert run_cli("render", EXAMPLE, "-o", out).returncode == 0
    assert marker(out).startswith("written by pdcompose render;")
    before = tree_bytes(out)
    refused = run_cli("export", "k8s", EXAMPLE, "-o", out)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "holds the output of `pdcompose render`" in refused.stderr and "--force" in refused.stderr
    assert tree_bytes(out) == before
    assert run_cli("export", "k8s", EXAMPLE, "-o", out, "--force").returncode == 0
    assert marker(out).startswith("written by pdcompose export k8s;") and not (out / "plan.json").exists()


def test_render_never_replaces_manifests_or_another_kind_of_bundle(tmp_path: Path):
    out = tmp_path / "k"
    assert run_cli("export", "k8s", EXAMPLE, "-o", out).returncode == 0
    refused = run_cli("render", EXAMPLE, "-o", out)
    assert refused.returncode == 1 and "holds the output of `pdcompose export k8s`" in refused.stderr
    rehearsal = run_cli("render", EXAMPLE, "--rehearsal", "-o", tmp_path / "r")
    assert rehearsal.returncode == 0 and marker(tmp_path / "r").startswith("written by pdcompose render --rehearsal;")
    real = run_cli("render", EXAMPLE, "-o", tmp_path / "r")
    assert real.returncode == 1 and "`pdcompose render --rehearsal`" in real.stderr


def test_the_same_command_replaces_its_own_output(tmp_path: Path):
    out = tmp_path / "out"
    assert run_cli("render", EXAMPLE, "-o", out).returncode == 0
    assert run_cli("render", EXAMPLE, "-o", out).returncode == 0


def test_a_rehearsal_bundle_is_ignored_by_git():
    from tests.helpers import REPO

    ignored = (REPO / ".gitignore").read_text().split()
    assert "/out-rehearsal/" in ignored and "/out-k8s/" in ignored


def test_a_bench_report_never_lands_in_a_bundle(tmp_path: Path):
    from tests.bench.test_bench_sweep import sweep

    sweep(tmp_path, "s")
    out = tmp_path / "out"
    assert run_cli("render", EXAMPLE, "-o", out).returncode == 0
    before = tree_bytes(out)
    refused = run_cli("bench", "report", tmp_path / "s", "--result", out)
    assert refused.returncode == 1 and "holds the output of `pdcompose render`" in refused.stderr
    assert tree_bytes(out) == before
