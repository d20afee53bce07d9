"""`pdcompose bench`: vllm-bench-style load through the deployed router, tagged with the plan's fingerprint."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pdcompose.cli import output
from pdcompose.cli.common import (
    FileOpt,
    JsonOpt,
    OutOpt,
    RehearsalOpt,
    TopologyArg,
    deployed_plan,
    handles_errors,
    topology_path,
)

ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


@handles_errors
def bench(topology: TopologyArg = None, file: FileOpt = None, out: OutOpt = None, rehearsal: RehearsalOpt = False,
          num_prompts: Annotated[int, typer.Option("--num-prompts", "-n", min=1)] = 1000,
          max_concurrency: Annotated[int | None, typer.Option("--max-concurrency", "-c", min=1)] = None,
          input_len: Annotated[int, typer.Option("--input-len", min=1, help="Prompt words")] = 1024,
          output_len: Annotated[int, typer.Option("--output-len", min=1, help="Tokens per reply")] = 128,
          range_ratio: Annotated[float, typer.Option("--range-ratio", min=0, max=1)] = 0.0,
          request_rate: Annotated[float, typer.Option("--request-rate", help="Requests/s (inf: all at once)")]
          = math.inf,
          endpoint: Annotated[str, typer.Option("--endpoint", help="completions or chat")] = "completions",
          stream: Annotated[bool, typer.Option("--stream/--no-stream")] = True,
          ignore_eos: Annotated[bool, typer.Option("--ignore-eos/--no-ignore-eos")] = True,
          seed: Annotated[int, typer.Option("--seed")] = 0,
          result_file: Annotated[Path | None, typer.Option("--result", help="JSON result path")] = None,
          print_vllm: Annotated[bool, typer.Option("--print-vllm", help=(
              "Print the equivalent `vllm bench serve` command (for the real image) and exit"))] = False,
          verify_pairing: Annotated[bool | None, typer.Option("--verify-pairing/--no-verify-pairing", help=(
              "Check every request reached exactly one prefill and one decode (mock workers only; "
              "default: on in a rehearsal)"))] = None,
          as_json: JsonOpt = False) -> None:
    """Load the router like `vllm bench serve --dataset-name random`; exit 1 if any request failed."""
    from pdcompose.bench import BenchConfig
    from pdcompose.bench.vllm_cmd import vllm_bench_command

    plan = deployed_plan(topology_path(topology, file), out, rehearsal)
    if endpoint not in ENDPOINTS:
        raise typer.BadParameter(f"--endpoint must be one of {', '.join(ENDPOINTS)}")
    config = BenchConfig(base_url=plan.router.url, model=plan.served_model_name, endpoint=ENDPOINTS[endpoint],
                         num_prompts=num_prompts, max_concurrency=max_concurrency, request_rate=request_rate,
                         random_input_len=input_len, random_output_len=output_len,
                         random_range_ratio=range_ratio, ignore_eos=ignore_eos, stream=stream, seed=seed)
    if print_vllm:
        output.console().print(vllm_bench_command(config, model=plan.model, multiline=True), markup=False)
        return
    result, pairing, unverified = _run(plan, config, verify_pairing if verify_pairing is not None else plan.rehearsal)
    path = result.save(result_file or _default_path(plan))
    failed = result.metrics.failed > 0 or unverified is not None or (pairing is not None and not pairing.ok)
    if as_json:
        pairing_json = {**pairing.model_dump(mode="json"), "ok": pairing.ok} if pairing else (
            {"ok": False, "error": unverified} if unverified else None)
        output.print_json({"status": "failed" if failed else "ok", "result": str(path),
                           "metrics": result.metrics.model_dump(mode="json"), "pairing": pairing_json})
    else:
        _print(result, pairing, path)
        if unverified:
            output.warn(f"pairing not verified: {unverified}")
    if failed:
        raise typer.Exit(1)


def _run(plan, config, check_pairing: bool):  # type: ignore[no-untyped-def]
    from pdcompose.bench import run_bench
    from pdcompose.bench.pairing import PairingError, verify_pairing

    labels = {"cluster": plan.cluster, "rehearsal": str(plan.rehearsal).lower(), "router": plan.router.url}
    output.note(f"benchmarking {plan.router.url}: {config.num_prompts} requests, concurrency "
                f"{config.max_concurrency or 'unbounded'}, {config.random_input_len} in / "
                f"{config.random_output_len} out")
    result = run_bench(config, fingerprint=plan.fingerprint, labels=labels, progress=_progress(config.num_prompts))
    pairing, unverified = None, None
    if check_pairing:
        workers = [c.url for _, c in plan.workers()]
        try:
            pairing = verify_pairing(result.traceparents_ok, workers)
        except PairingError as exc:  # e.g. a worker died during the run: the metrics still stand
            unverified = str(exc)
    return result, pairing, unverified


def _progress(total: int):  # type: ignore[no-untyped-def]
    """A line every 10% (readable in CI logs as well as a terminal)."""
    t0, step = time.monotonic(), max(1, total // 10)

    def report(p) -> None:  # type: ignore[no-untyped-def]
        if p.done % step == 0 or p.done == p.total:
            output.note(f"  {p.done}/{p.total} done, {p.failed} failed, {time.monotonic() - t0:.1f} s")

    return report


def _default_path(plan) -> Path:  # type: ignore[no-untyped-def]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("bench-results") / f"{plan.cluster}-{plan.fingerprint}-{stamp}.json"


def _print(result, pairing, path: Path) -> None:  # type: ignore[no-untyped-def]
    from pdcompose.bench.report import render_table

    output.console().print(render_table(result))
    if pairing is not None:
        verdict = "[green]ok[/]" if pairing.ok else "[red]FAILED[/]"
        output.say(f"pairing {verdict}: {pairing.paired}/{pairing.checked} requests reached exactly one prefill and "
                   f"one decode with the same X-Request-ID and KV params; lost {pairing.lost}, duplicated "
                   f"{pairing.duplicated}, mismatched {pairing.mismatched + pairing.kv_mismatched}, KV check failed "
                   f"{pairing.kv_check_failed}")
        for sample in pairing.samples:
            output.note(f"  {sample}")
    for error in result.metrics.sample_errors:
        output.note(f"  failed request: {error}")
    output.say(f"result: {path}")
