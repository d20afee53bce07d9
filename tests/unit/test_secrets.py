"""Secrets: a literal value for a secret-looking variable is refused with the fix, and no error, warning,
log line or --json output of any command ever repeats a value written where a secret belongs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pdcompose import topology
from pdcompose.cli import app
from pdcompose.errors import TopologyError
from pdcompose.topology.secrets import is_secret_flag, is_secret_name
from tests.topologies import pd_topology

CANARY = "hf_C4naryS3cretV4lue0123456789abcdefXYZ"    # longer than any truncation of a shown value


def base(extra: str = "", **kwargs: object) -> str:
    return pd_topology("sec", first="127.0.9.10", enabled=False, extra=extra, image="vllm/vllm-openai:v0.13.0",
                       **kwargs)  # type: ignore[arg-type]


# Every place a secret may be written by mistake, each its own file.
LEAKS = {
    "hf-token-literal": base(f"hf_token: {CANARY}\n"),
    "hf-token-in-list": base(f"hf_token: [{CANARY}]\n"),
    "api-key-literal": base(f"api_key: {CANARY}\n"),
    "env-literal": base(f"env: {{HF_TOKEN: {CANARY}}}\n"),
    "env-number-typo": base(f"env: {{MY_API_KEY: {CANARY}, VLLM_LOGGING_LEVL: {CANARY}x}}\n"),
    "router-env-literal": base().replace("router: {host: r}",
                                         f"router: {{host: r, env: {{OPENAI_API_KEY: {CANARY}}}}}"),
    "node-env-password": base(decode_extra=f", env: {{DB_PASSWORD: {CANARY}}}"),
    "args-api-key": base("env: {X: '1'}\n").replace("args:\n", f"args:\n  api-key: {CANARY}\n"),
    "duplicate-key": base(f"env:\n  HF_TOKEN: {CANARY}\n  HF_TOKEN: {CANARY}2\n"),
    "token-as-variable-name": base(f"hf_token: {{from_env: {CANARY}}}\n"),
    "token-as-env-variable-name": base(f"env: {{X_PASSWORD: {{from_env: {CANARY}}}}}\n"),
    "opt-out-misused": base(f"env: {{HF_TOKEN: {{value: {CANARY}, secret: true}}}}\n"),
    "with-other-errors": base(f"hf_token: {CANARY}\nenv: {{HF_TOKEN: {CANARY}}}\nnoise: 1\n").replace(
        "gpus: [0]", "gpus: [-1]"),
}

COMMANDS = [["validate"], ["validate", "--strict"], ["plan"], ["plan", "--commands", "--env"], ["render"],
            ["export", "k8s"], ["deploy"], ["status"], ["doctor"], ["down"], ["logs"], ["restart"], ["bench"],
            ["images", "push"], ["images", "status"]]


@pytest.fixture(autouse=True)
def _no_canary_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The redactor hides values of secret variables it knows: the canary must not be one, so nothing masks a
    leak the code itself would make."""
    for name, value in os.environ.items():
        if CANARY in value:
            monkeypatch.delenv(name)


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_no_command_echoes_a_secret(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    Path("pdcompose.yaml").write_text(LEAKS[case])
    runner = CliRunner()
    for command in COMMANDS:
        for json_flag in ([], ["--json"]):
            if json_flag and command[0] in ("down", "logs", "restart", "doctor"):
                continue     # no --json there
            result = runner.invoke(app, [*command, *json_flag])
            shown = result.output + (result.stderr if result.stderr_bytes is not None else "")
            assert result.exit_code == 2, (command, json_flag, shown)
            assert CANARY not in shown, (command, json_flag, shown)
            assert "Traceback" not in shown and "error" in shown.lower()
    assert not Path("out").exists() and not Path("out-k8s").exists()


@pytest.mark.parametrize(("yaml", "where"), [
    (base(f"env: {{HF_TOKEN: {CANARY}}}\n"), "env.HF_TOKEN"),
    (base(decode_extra=", env: {S3_SECRET: abc}"), "decode[0].env.S3_SECRET"),
    (base().replace("args:\n", "args:\n  api-key: abc123\n"), "args.api-key"),
])
def test_a_literal_secret_is_refused_with_the_fix(yaml: str, where: str, tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text(yaml)
    with pytest.raises(TopologyError) as exc:
        topology.load(path)
    [issue] = exc.value.issues
    assert issue.path == where and issue.line is not None
    assert "{from_env:" in issue.message


def test_a_variable_marked_not_secret_is_written_as_given(tmp_path: Path):
    from pdcompose.plan import build_plan

    path = tmp_path / "t.yaml"
    path.write_text(base("env: {CACHE_KEY: {value: layout-v2, secret: false}, HF_TOKEN: {from_env: HF_TOKEN}}\n"))
    plan, _ = build_plan(topology.load(path))
    envs = [c.env for _, c in plan.workers()]
    assert envs and all(e["CACHE_KEY"] == "layout-v2" for e in envs)


def test_a_token_pasted_as_the_variable_name_is_refused(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text(base(f"hf_token: {{from_env: {CANARY}}}\n"))
    with pytest.raises(TopologyError) as exc:
        topology.load(path)
    [issue] = exc.value.issues
    assert issue.path == "hf_token.from_env" and "not the name of the variable" in issue.message
    assert CANARY not in str(exc.value)
    path.write_text(base("hf_token: {from_env: HF_TOKEN}\nenv: {A: {from_env: MY_SERVICE_TOKEN_FOR_PROD_2}}\n"))
    topology.load(path)          # ordinary variable names pass


@pytest.mark.parametrize(("name", "secret"), [
    ("HF_TOKEN", True), ("GITHUB_TOKEN", True), ("VLLM_API_KEY", True), ("OPENAI_API_KEY", True),
    ("AWS_SECRET", True), ("DB_PASSWORD", True),
    ("VLLM_SHARED_EXPERTS_STREAM_TOKEN_THRESHOLD", False), ("VLLM_LOGGING_LEVEL", False), ("KEYBOARD", False),
])
def test_which_variables_are_secret(name: str, secret: bool):
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(("name", "secret"), [
    ("api-key", True), ("--hf-token", True), ("api_key", True), ("db-password", True),
    ("max-num-batched-tokens", False), ("max-num-batched-token", False), ("kv-cache-dtype", False),
])
def test_which_flags_are_secret(name: str, secret: bool):
    assert is_secret_flag(name) is secret
