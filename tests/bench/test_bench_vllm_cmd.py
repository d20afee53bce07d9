"""The equivalent `vllm bench serve` command, checked against the guide's own command text."""

from __future__ import annotations

import re
import shlex

import pytest

from pdcompose.bench.vllm_cmd import vllm_bench_argv, vllm_bench_command
from pdcompose.bench.workload import BenchConfig
from tests.upstream import guide_section

# The command under "Running Benchmarks" in the repository's copy of vLLM's PD guide (docs/upstream/).
GUIDE_COMMAND = guide_section("Running Benchmarks").strip()


def guide_config(**kw) -> BenchConfig:
    return BenchConfig(**({"base_url": "http://router-0:8123", "model": "nvidia/DeepSeek-R1-0528-FP4-v2",
                           "num_prompts": 5120, "max_concurrency": 2048, "random_input_len": 4096,
                           "random_output_len": 2048} | kw))


def without_endpoint(argv: list[str]) -> list[str]:
    i = argv.index("--endpoint")
    return argv[:i] + argv[i + 2:]


def test_matches_the_guide_command_plus_endpoint() -> None:
    assert GUIDE_COMMAND.startswith("vllm bench serve \\\n--model {MODEL_PATH}")
    expected = shlex.split(GUIDE_COMMAND.replace("\\\n", " ")
                           .replace("{MODEL_PATH}", "nvidia/DeepSeek-R1-0528-FP4-v2")
                           .replace("{ROUTER_HOSTNAME}", "router-0"))
    argv = vllm_bench_argv(guide_config())
    assert without_endpoint(argv) == expected
    assert argv[argv.index("--endpoint") + 1] == "/v1/completions"


def test_model_override_and_shell_quoting() -> None:
    cmd = vllm_bench_command(guide_config(model="served name"), model="/models/my model")
    assert shlex.split(cmd)[:5] == ["vllm", "bench", "serve", "--model", "/models/my model"]
    assert "'/models/my model'" in cmd


def test_chat_rate_ratio_seed() -> None:
    argv = vllm_bench_argv(guide_config(endpoint="/v1/chat/completions", request_rate=12.5,
                                        random_range_ratio=0.25, seed=3, ignore_eos=False,
                                        max_concurrency=None))
    s = " ".join(argv)
    assert "--backend openai-chat --endpoint /v1/chat/completions" in s
    assert "--request-rate 12.5" in s and "--random-range-ratio 0.25" in s and "--seed 3" in s
    assert "--ignore-eos" not in argv and "--max-concurrency" not in argv


@pytest.mark.parametrize(("url", "target"), [
    ("http://10.0.0.5", ["--host", "10.0.0.5", "--port", "80"]),
    ("https://gw.example:8443", ["--base-url", "https://gw.example:8443"]),
    ("http://gw:80/prefix", ["--base-url", "http://gw:80/prefix"]),
])
def test_target_flags(url: str, target: list[str]) -> None:
    argv = vllm_bench_argv(guide_config(base_url=url))
    assert argv[5:5 + len(target)] == target


def test_multiline_form_is_the_guide_s_layout() -> None:
    text = vllm_bench_command(guide_config(), multiline=True)
    lines = text.splitlines()
    assert lines[0] == "vllm bench serve \\"
    assert all(re.fullmatch(r"  --\S+( \S+)? \\", line) for line in lines[1:-1])
    assert lines[-1] == "  --trust_remote_code"
    assert shlex.split(text.replace("\\\n", " ")) == vllm_bench_argv(guide_config())
