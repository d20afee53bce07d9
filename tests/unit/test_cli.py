"""The CLI as users type it: default file, -f vs positional, init, schema, --commands, --json, --strict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML

from tests.helpers import EXAMPLE, REPO, run_cli


def test_default_file_like_docker_compose(tmp_path: Path):
    shutil.copy(EXAMPLE, tmp_path / "pdcompose.yaml")
    result = run_cli("render", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "gb200-n6" / "compose.yaml").is_file() and (tmp_path / "out" / "plan.json").is_file()


def test_file_option_and_positional_agree_or_fail(tmp_path: Path):
    assert run_cli("validate", "-f", EXAMPLE).returncode == 0
    assert run_cli("validate", EXAMPLE, "-f", EXAMPLE).returncode == 0
    result = run_cli("validate", EXAMPLE, "-f", tmp_path / "other.yaml")
    assert result.returncode == 1 and "two topology files given" in result.stderr


def test_init_writes_a_valid_topology_and_never_overwrites(tmp_path: Path):
    for preset in ("deepseek-r1-gb200", "kimi-k2-gb200"):
        target = tmp_path / f"{preset}.yaml"
        assert run_cli("init", "-f", target, "--preset", preset).returncode == 0
        assert run_cli("validate", target).returncode == 0
        again = run_cli("init", "-f", target)
        assert again.returncode == 1 and "pass --force" in again.stderr
    assert run_cli("init", "--preset", "nope", cwd=tmp_path).returncode == 1
    assert not (tmp_path / "pdcompose.yaml").exists()


def test_schema_accepts_the_example_and_rejects_typos():
    result = run_cli("schema")
    schema = json.loads(result.stdout)
    for doc_path in (EXAMPLE, *sorted((REPO / "tests" / "golden").glob("*/topology.yaml"))):
        jsonschema.validate(YAML(typ="safe", pure=True).load(doc_path.read_text()), schema)
    doc = YAML(typ="safe", pure=True).load(EXAMPLE.read_text())
    doc["router"]["polcy"] = "round_robin"
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as exc:
        assert "polcy" in exc.message
    else:
        raise AssertionError("the schema accepted an unknown key")


def test_plan_commands_are_copy_pasteable_shell(tmp_path: Path):
    import shlex

    listing = run_cli("plan", EXAMPLE, "--commands").stdout
    blocks = [b for b in listing.strip().split("\n\n") if b]
    assert len(blocks) == 7
    first = blocks[0].splitlines()
    assert first[0] == "# prefill-0-node-0 on gb200-n0 (10.0.0.10), GPUs 0,1,2,3"
    argv = shlex.split(" ".join(line.rstrip("\\") for line in first[1:]))
    assert argv[:3] == ["vllm", "serve", "nvidia/DeepSeek-R1-0528-FP4-v2"]
    assert argv[argv.index("--kv-transfer-config") + 1] == \
        '{"kv_connector":"NixlConnector","kv_role":"kv_both","kv_load_failure_policy":"fail"}'
    router = blocks[-1].splitlines()
    assert router[1] == "vllm-router \\" and "--prefill http://10.0.0.13:8087 \\" in router


def test_plan_json_and_table():
    data = json.loads(run_cli("plan", EXAMPLE, "--json").stdout)
    assert data["router"]["decode_urls"] == ["http://10.0.0.14:8087", "http://10.0.0.15:8087"]
    table = run_cli("plan", EXAMPLE).stdout
    assert "prefill-1-node-1" in table and "4-7 of 8" in table and "nixl 5600-5603" in table
    assert "nixl 5604-5607" in table  # node 1 listens on VLLM_NIXL_SIDE_CHANNEL_PORT (5600) + global ranks 4-7


def test_strict_turns_warnings_into_errors(tmp_path: Path):
    text = (REPO / "tests/golden/h100-colocated/topology.yaml").read_text().replace(
        'env: {UCX_NET_DEVICES: "mlx5_0:1,mlx5_1:1"}', "")
    path = tmp_path / "t.yaml"
    path.write_text(text)
    lenient = run_cli("validate", path)
    assert lenient.returncode == 0 and "warning:" in lenient.stderr and "UCX_NET_DEVICES is unset" in lenient.stderr
    strict = run_cli("validate", path, "--strict")
    assert strict.returncode == 2 and "UCX_NET_DEVICES is unset" in strict.stderr


def test_version_and_help():
    assert run_cli("--version").stdout.strip().startswith("pdcompose ")
    help_text = run_cli("--help").stdout
    for command in ("init", "validate", "plan", "render", "schema"):
        assert command in help_text


def test_verbose_shows_a_traceback_only_when_asked(tmp_path: Path):
    quiet = run_cli("render", EXAMPLE, "-o", "/proc/forbidden/out")
    loud = run_cli("-v", "render", EXAMPLE, "-o", "/proc/forbidden/out")
    assert quiet.returncode == loud.returncode == 1
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
