"""The mock refuses a command line exactly where `vllm serve` refuses it, with vLLM's exit status and message.

Each argv goes through the real parser of a vLLM release (scripts/vllm_parse.py in that release's venv)
and through the mock's `main` told to stand for that release (PDCOMPOSE_MOCK_VLLM_VERSION); the exit
status and the lines after argparse's usage line must agree. What is normalised, and why: a function's
memory address (vLLM prints `<function loads at 0x...>`), and the order of two lists the catalog keeps
sorted where vLLM keeps declaration order (argparse's "could match" candidates, a Literal's choices).
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from pdcompose.mock.config import parse_argv
from pdcompose.mock.server import main
from tests.vllm.conftest import parse_with_vllm

pytestmark = pytest.mark.vllm

KV = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
REFUSED = {
    "unknown flag": ["m", "--bogus", "1"],
    "bad choice": ["m", "--dtype", "foo"],
    "bad int": ["m", "--max-num-seqs", "x"],
    "bad human-readable int": ["m", "--max-model-len", "abc"],
    "decimal with a binary suffix": ["m", "--max-model-len", "1.5K"],
    "bad JSON in a config flag": ["m", "--kv-transfer-config", "{bad"],
    "bad choice in a config key": ["m", "--kv-transfer-config", KV.replace("kv_both", "bogus")],
    "a config flag given a list": ["m", "--kv-transfer-config", "[1]"],
    "bad JSON in a JSON flag": ["m", "--speculative-config", "{bad"],
    "value missing": ["m", "--port"],
    "ambiguous abbreviation": ["m", "--max-num", "3"],
    "model twice (positional and --model)": ["m2", "--model", "m1"],
}
ACCEPTED = {
    "dotted keys and underscores": ["m", "--compilation_config.pass_config.fuse_attn_quant", "true",
                                    "--max_num_seqs", "4"],
    "switch negated then set": ["m", "--no-enforce-eager", "--enforce-eager"],
    "an abbreviation (vLLM takes it silently)": ["m", "--max-num-batched-token", "8192"],
    "human-readable max-model-len": ["m", "--max-model-len", "32k", "--kv-transfer-config", KV],
}
# vLLM 0.32.0 removed --swap-space (the guide's prefill sets it): the flag the pinned release lacks.
ONLY_013 = {"a flag 0.32.0 removed": ["m", "--swap-space", "16"],
            # 0.13.0's KVTransferConfig ignores an unknown key; 0.32.0's forbids it
            "an unknown key in a config": ["m", "--kv-transfer-config", '{"kv_conector":"NixlConnector"}']}


def _normalised(stderr: str) -> list[str]:
    """The lines after argparse's usage line, addresses and catalog-sorted lists made comparable."""
    lines = stderr.strip().splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("usage: ")) + 1:]
    out = []
    for line in lines:
        line = re.sub(r" at 0x[0-9a-f]+>", " at 0x?>", line)
        line = re.sub(r"could match (.*)$", lambda m: "could match " + ", ".join(sorted(m.group(1).split(", "))), line)
        line = re.sub(r"Input should be (.*?) \[", _sorted_choices, line)
        out.append(line)
    return out


def _sorted_choices(m: re.Match[str]) -> str:
    choices = sorted(re.findall(r"'[^']*'", m.group(1)))
    return f"Input should be {choices} ["


def _mock(version: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int | None, str]:
    """The mock's exit status (None: it would start serving) and stderr, for `vllm serve ARGV`."""
    monkeypatch.setenv("PDCOMPOSE_MOCK_VLLM_VERSION", version)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            parse_argv(["serve", *argv], {"PDCOMPOSE_MOCK_VLLM_VERSION": version})
            return None, ""
        except Exception:
            code = main(["serve", *argv])          # refuses before anything is started
    return code, err.getvalue()


@pytest.mark.parametrize("version", ["0.13.0", "0.32.0"])
def test_the_mock_refuses_and_accepts_what_vllm_does(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = {**REFUSED, **ACCEPTED, **ONLY_013}
    real = parse_with_vllm(version, [{"id": name, "argv": argv} for name, argv in cases.items()])
    for name, argv in cases.items():
        code, stderr = _mock(version, argv, monkeypatch)
        r = real[name]
        if r["ok"]:
            assert code is None, f"vLLM {version} accepts {name} ({argv}); the mock exits {code}: {stderr}"
            continue
        assert code == r["exit"] == 2, f"{name}: vLLM {version} exits {r['exit']}, the mock {code}"
        assert _normalised(stderr) == _normalised(r["stderr"]), f"{name} ({argv}) on vLLM {version}"
    refused = {name for name in cases if not real[name]["ok"]}
    # the cases mean what they say: vLLM refuses these and accepts the rest
    assert refused == set(REFUSED) | (set(ONLY_013) if version == "0.32.0" else set())
