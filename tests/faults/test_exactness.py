"""What reaches the containers is exactly what the topology says (quoting), and secrets reach them
without ever appearing in a file or anything pdcompose prints."""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML

from tests.helpers import run_cli, text_flag_args, value_in_argv

pytestmark = pytest.mark.docker
HOSTILE = {
    "json": '{"kv": "a b", "list": [1, 2.5, null], "quote": "it\'s \\"x\\""}',
    "dollar": "$HOME ${PATH} $$ ${X:-y} $",
    "backslash": "C:\\dir\\ \\n \\\\ end\\",
    "unicode": "ünïcödé ✓ 🚀 \u00a0 \u2028 \u200b end",
    "spaces": "  two  spaces  ",
    "quotes": "single ' double \" back `tick`",
    "newline": "line one\nline two\n",
    "dashes": "--not-a-flag",
    "empty": "",
}


def with_settings(folder: Path, **top: dict) -> None:
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load((folder / "pdcompose.yaml").read_text())
    for key, value in top.items():
        doc[key] = {**doc[key], **value} if isinstance(doc.get(key), dict) else value
    text = StringIO()
    yaml.dump(doc, text)
    (folder / "pdcompose.yaml").write_text(text.getvalue())


def test_every_hostile_value_reaches_the_container_byte_for_byte(stack):
    folder = stack("exact-quoting", first="127.0.9.10")
    flags = text_flag_args(HOSTILE)
    with_settings(folder, args={flags[k][0]: v for k, v in HOSTILE.items()},
                  env={f"X_{k.upper()}": v for k, v in HOSTILE.items()})
    assert run_cli("deploy", cwd=folder).returncode == 0
    plan = json.loads((folder / "out-rehearsal" / "plan.json").read_text())
    node = plan["hosts"][0]["containers"][0]
    seen = httpx.get(f"{node['url']}/mock/argv", timeout=5).json()
    assert seen["argv"] == ["serve", *node["command"]]            # the mock runs `vllm serve <command>`
    for key, value in HOSTILE.items():
        assert value_in_argv(seen["argv"], flags[key][1]) == value
        assert seen["env"][f"X_{key.upper()}"] == value


def test_secrets_reach_the_containers_and_nothing_else(stack):
    hf, key = "hf_CANARYtokenABCDEF0123456789", "sk-CANARY-api-key-9876543210"
    folder = stack("exact-secrets", first="127.0.10.10")
    with_settings(folder, hf_token={"from_env": "HF_TOKEN"}, env={"CUSTOM_SECRET": {"from_env": "PDC_CANARY_KEY"}})
    env = {"HF_TOKEN": hf, "PDC_CANARY_KEY": key}
    outputs = []
    for args in (["validate"], ["plan"], ["plan", "--commands", "--env"], ["plan", "--json"], ["render"],
                 ["deploy"], ["status"], ["logs", "-n", "50"], ["bench", "-n", "20", "--max-concurrency", "4",
                                                                "--output-len", "8"],
                 ["restart", "--role", "decode"], ["validate", "--json"], ["down"]):
        result = run_cli(*args, cwd=folder, env=env)
        assert result.returncode == 0, (args, result.stderr)
        outputs.append(result.stdout + result.stderr)
        if args == ["deploy"]:
            plan = json.loads((folder / "out-rehearsal" / "plan.json").read_text())
            seen = httpx.get(f"{plan['hosts'][0]['containers'][0]['url']}/mock/argv", timeout=5).json()
            assert seen["hf_token_sha256"] == "sha256:" + hashlib.sha256(hf.encode()).hexdigest()
            assert seen["env"]["CUSTOM_SECRET"] == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    for text in outputs:
        assert hf not in text and key not in text
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert hf.encode() not in data and key.encode() not in data, path
