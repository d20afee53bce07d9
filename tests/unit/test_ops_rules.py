"""Small rules of the day-2 commands that need no Docker."""

from __future__ import annotations

import shlex

from pdcompose.ops.restart import roles_to_restart
from tests.helpers import EXAMPLE, run_cli


def test_a_prefill_restart_takes_the_decodes_with_it():
    assert roles_to_restart(["prefill"]) == ["prefill", "decode"]       # stale NIXL agents otherwise
    assert roles_to_restart(["decode"]) == ["decode"]
    assert roles_to_restart(["router"]) == ["router"]
    assert roles_to_restart([]) == ["prefill", "decode", "router"]


def test_bench_prints_the_guides_vllm_bench_command():
    result = run_cli("bench", EXAMPLE, "--print-vllm", "-n", "5120", "-c", "2048", "--input-len", "4096",
                     "--output-len", "2048")
    assert result.returncode == 0, result.stderr
    argv = shlex.split(result.stdout.replace("\\\n", " "))
    assert argv[:3] == ["vllm", "bench", "serve"]
    pairs = {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a.startswith("--") and not argv[i + 1].startswith("--")}
    assert pairs["--model"] == "nvidia/DeepSeek-R1-0528-FP4-v2" and pairs["--host"] == "10.0.0.16"
    assert pairs["--port"] == "8123" and pairs["--num-prompts"] == "5120" and pairs["--max-concurrency"] == "2048"
    assert pairs["--random-input-len"] == "4096" and pairs["--random-output-len"] == "2048"
    assert "--ignore-eos" in argv and pairs["--dataset-name"] == "random"
