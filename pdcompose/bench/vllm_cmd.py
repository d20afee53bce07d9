"""The `vllm bench serve` command that runs the same benchmark, in the form the vLLM PD guide uses.

The guide's command (its "Running Benchmarks" section) is

    vllm bench serve --model M --host H --port 8123 --dataset-name random --ignore-eos
      --num-prompts 5120 --max-concurrency 2048 --random-input-len 4096 --random-output-len 2048
      --ready-check-timeout-sec 0 --trust_remote_code

and this module emits exactly that for the matching config, plus `--endpoint` after the port (always, so
the command says which API it hits), `--backend openai-chat` for the chat endpoint (bench needs it),
and `--request-rate`, `--random-range-ratio`, `--seed` only when they differ from bench's defaults.
vllm bench always streams: a config with `stream=False` has no exact equivalent, and the command
shown for it is the streaming one.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

from pdcompose.bench.workload import BenchConfig


def _num(x: float) -> str:
    return f"{x:g}"


def _target(base_url: str) -> list[str]:
    u = urlsplit(base_url)
    if u.scheme == "http" and u.path in ("", "/") and u.hostname:
        return ["--host", u.hostname, "--port", str(u.port or 80)]
    return ["--base-url", base_url]      # https or a path prefix: bench takes the URL as it is


def vllm_bench_argv(config: BenchConfig, *, model: str | None = None) -> list[str]:
    """argv for `vllm bench serve`; `model` overrides `config.model` (e.g. a local model path)."""
    argv = ["vllm", "bench", "serve", "--model", model or config.model, *_target(config.base_url)]
    if config.is_chat:
        argv += ["--backend", "openai-chat"]
    argv += ["--endpoint", config.endpoint, "--dataset-name", "random"]
    if config.ignore_eos:
        argv.append("--ignore-eos")
    argv += ["--num-prompts", str(config.num_prompts)]
    if config.max_concurrency is not None:
        argv += ["--max-concurrency", str(config.max_concurrency)]
    if config.request_rate != float("inf"):
        argv += ["--request-rate", _num(config.request_rate)]
    argv += ["--random-input-len", str(config.random_input_len),
             "--random-output-len", str(config.random_output_len)]
    if config.random_range_ratio:
        argv += ["--random-range-ratio", _num(config.random_range_ratio)]
    if config.seed:
        argv += ["--seed", str(config.seed)]
    argv += ["--ready-check-timeout-sec", "0", "--trust_remote_code"]
    return argv


def vllm_bench_command(config: BenchConfig, *, model: str | None = None, multiline: bool = False) -> str:
    """The shell-quoted command; `multiline` breaks it before each flag with ` \\`, as the guide does."""
    argv = vllm_bench_argv(config, model=model)
    if not multiline:
        return shlex.join(argv)
    lines, cur = [], shlex.join(argv[:3])
    for arg in argv[3:]:
        if arg.startswith("--"):
            lines.append(cur)
            cur = arg
        else:
            cur += " " + shlex.quote(arg)
    lines.append(cur)
    return " \\\n  ".join(lines)
