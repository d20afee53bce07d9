"""The conventions operators bring from Docker Compose and procps: one meaning per short option, switches
shown as switches, usage errors exit 2, and under --json every error is one JSON shape on stdout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, run_cli

COMMANDS = [["init"], ["validate"], ["plan"], ["render"], ["schema"], ["deploy"], ["status"], ["logs"], ["down"],
            ["restart"], ["doctor"], ["top"], ["bench"], ["bench", "compare"], ["bench", "report"],
            ["images", "push"], ["images", "status"], ["export", "k8s"]]


def help_of(command: list[str]) -> str:
    result = run_cli(*command, "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def short_options(text: str) -> dict[str, str]:
    """-x -> --long, from a rich help table row: `│ --long  -x  <type>  help │`."""
    return {m.group(2): m.group(1) for m in re.finditer(r"│ (--[a-z-]+)\s+(-[a-zA-Z])\b", text)}


def test_each_short_option_means_one_thing_everywhere():
    meaning: dict[str, set[str]] = {}
    for command in COMMANDS:
        for short, long in short_options(help_of(command)).items():
            meaning.setdefault(short, set()).add(long)
    assert meaning["-c"] == {"--context"}
    assert meaning["-f"] == {"--file"}
    assert meaning["-o"] == {"--output"}
    assert meaning["-d"] == {"--delay"} and meaning["-F"] == {"--follow"}
    # -n is "how many" in both places, as in `docker logs -n` and ApacheBench's `ab -n`
    assert {k: v for k, v in meaning.items() if len(v) > 1} == {"-n": {"--tail", "--num-prompts"}}


def test_logs_dash_f_from_compose_habit_says_what_it_means(tmp_path: Path):
    result = run_cli("logs", "-f", "--tail", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "-f is --file here" in result.stderr and "-F/--follow" in result.stderr


def test_switches_show_no_value_in_help():
    text = help_of(["validate"])
    assert re.search(r"--strict\s+Treat warnings", text), text
    assert "<bool>" not in text
    assert "<mock|vllm>" in text


def test_an_unknown_engine_is_a_usage_error():
    result = run_cli("validate", EXAMPLE, "--engine", "foo")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [
    ["validate", "nope.yaml", "--json"],                       # a located issue
    ["validate", EXAMPLE, "--engine", "foo", "--json"],        # a usage error: click's, not ours
    ["plan", "--json", "-f"],                                   # an option without its value
    ["bench", "report", "nope", "--json"],                      # a plain error
    ["bench", "compare", "a", "--json", "--bogus"],            # a subcommand's unknown option
])
def test_every_error_under_json_has_one_shape(args: list[str], tmp_path: Path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode in (1, 2)
    doc = json.loads(result.stdout)
    assert set(doc) == {"status", "error", "issues"} and doc["status"] == "error"
    assert isinstance(doc["error"], str) and doc["error"] and isinstance(doc["issues"], list)
    assert "╭" not in result.stdout + result.stderr


def test_hints_name_only_what_a_pip_user_has(tmp_path: Path):
    from pdcompose import catalog, defaults
    from pdcompose.arch import build_fix

    _, note = catalog.choose("0.12.0")
    assert "scripts/" not in note and "0.11.2" in note
    assert "checkout of pdcompose's source" in build_fix(defaults.ROUTER_IMAGE, "arm64")
    (tmp_path / "mine").mkdir()
    result = run_cli("render", EXAMPLE, "-o", tmp_path / "out", "--templates", tmp_path / "mine")
    assert result.returncode == 1
    shown = re.search(r"start from a copy of (\S+),", result.stderr)
    assert shown and (Path(shown.group(1)) / "compose.yaml.j2").is_file(), result.stderr


def test_an_image_without_a_catalog_says_which_catalog_judges_it(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text(EXAMPLE.read_text().replace("vllm/vllm-openai:v0.13.0", "vllm/vllm-openai:v0.12.0"))
    result = run_cli("validate", path)
    assert "vllm/vllm-openai:v0.12.0 runs vLLM 0.12.0, judged by vLLM 0.11.2's catalog" in result.stderr


def test_a_piped_plan_table_is_never_cut(tmp_path: Path):
    long_host = "a-very-long-host-name-in-the-lab-number-one"
    uuids = ["GPU-0123456789abcdef0123", "GPU-1123456789abcdef0123", "GPU-2123456789abcdef0123"]
    path = tmp_path / "t.yaml"
    path.write_text(EXAMPLE.read_text().replace("gb200-n0", long_host).replace(
        "gb200-n6: {address: 10.0.0.16, gpus: []}", "gb200-n6: {address: 10.0.0.16, gpus: []}\n  "
        f"spare: {{address: 10.0.0.17, gpus: [{', '.join(uuids)}]}}"))
    text = path.read_text().replace("decode:\n  - nodes: [gb200-n4, gb200-n5]", "decode:\n  - nodes: [gb200-n4, "
                                    "gb200-n5]\n  - {nodes: [spare], tp: 3, nixl_port: 45600}")
    path.write_text(text)
    result = run_cli("plan", path, env={"COLUMNS": "60"})
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout and "..." not in result.stdout
    assert long_host in result.stdout and ",".join(uuids) in result.stdout and "nixl 45600" in result.stdout
