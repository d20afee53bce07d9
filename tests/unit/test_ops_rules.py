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
    result = run_cli("bench", EXAMPLE, "--print-vllm", "-n", "5120", "--max-concurrency", "2048", "--input-len", "4096",
                     "--output-len", "2048")
    assert result.returncode == 0, result.stderr
    argv = shlex.split(result.stdout.replace("\\\n", " "))
    assert argv[:3] == ["vllm", "bench", "serve"]
    pairs = {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a.startswith("--") and not argv[i + 1].startswith("--")}
    assert pairs["--model"] == "nvidia/DeepSeek-R1-0528-FP4-v2" and pairs["--host"] == "10.0.0.16"
    assert pairs["--port"] == "8123" and pairs["--num-prompts"] == "5120" and pairs["--max-concurrency"] == "2048"
    assert pairs["--random-input-len"] == "4096" and pairs["--random-output-len"] == "2048"
    assert "--ignore-eos" in argv and pairs["--dataset-name"] == "random"


def test_status_names_the_decodes_that_started_before_the_last_prefill_restart():
    from datetime import UTC, datetime, timedelta

    from pdcompose.deploy.containers import ContainerState
    from pdcompose.ops.status import Row, stale_nixl

    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def row(host: str, role: str, started: datetime | None, status: str = "running") -> Row:
        state = ContainerState(host, f"{role}-0", f"{role}-0", "id", status, None, None, 0, started)
        return Row(host, f"{role}-0", role, "http://x", state, None, "200", "healthy")

    early_decode = row("d1", "decode", t0)
    fresh_decode = row("d2", "decode", t0 + timedelta(minutes=9, seconds=30))
    rows = [row("p1", "prefill", t0), row("p2", "prefill", t0 + timedelta(minutes=10)), early_decode, fresh_decode,
            row("p3", "prefill", t0 + timedelta(hours=1), status="exited"), row("p4", "prefill", None)]
    [message] = stale_nixl(rows)
    assert message.startswith("decode-0 on d1 started before prefill-0 on p2 last (re)started")
    assert "d2" not in message                                          # within STALE_AFTER of the restart
    assert stale_nixl([early_decode, fresh_decode]) == []               # no prefill running: nothing to say
