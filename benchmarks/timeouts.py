"""How close to their timeouts the give-up paths give up, and how exact the load generator's pacing is: the
speed side of what the tests only bound against a hang (tests/helpers.assert_no_hang). Each figure is a
ratio to the time the operation should take, so it means the same on a fast and on a slow machine.

- doctor on a Docker context that accepts the connection and never answers (a dead ssh host): the whole
  process against its --timeout;
- the bench client on a stream kept open after its [DONE]: the request against the drain grace;
- the bench client's arrivals at --request-rate: the run against n / rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.common import PDCOMPOSE, REPO, Figure, median
from tests.bench.stub import serve, sse

SECTION = "timeouts and pacing (ratio to the expected time)"
DOCTOR_TIMEOUT = 3.0
RATE, PROMPTS = 50.0, 50
COMPLETIONS = (REPO / "tests" / "bench" / "fixtures" / "completions_stream.sse").read_bytes()


@contextlib.contextmanager
def silent_context() -> Iterator[str]:
    """A Docker context whose endpoint accepts connections (the kernel's backlog) and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    name = f"pdc-bench-silent-{server.getsockname()[1]}"
    subprocess.run(["docker", "context", "create", name, "--docker",
                    f"host=tcp://127.0.0.1:{server.getsockname()[1]}"], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["docker", "context", "rm", "-f", name], capture_output=True)
        server.close()


def doctor_on_a_silent_host(runs: int = 3) -> list[float]:
    with silent_context() as context, tempfile.TemporaryDirectory() as tmp:
        topology = Path(tmp) / "pdcompose.yaml"
        topology.write_text(
            "name: silent\nmodel: m\nimage: vllm/vllm-openai:v0.13.0\nargs:\n  kv-transfer-config: "
            "{kv_connector: NixlConnector, kv_role: kv_both, kv_load_failure_policy: fail}\n"
            f"hosts:\n  p: {{address: 10.0.0.1, gpus: [0], context: {context}}}\n"
            "  d: {address: 10.0.0.2, gpus: [0]}\n  r: {address: 10.0.0.3}\n"
            "prefill: [{nodes: [p]}]\ndecode: [{nodes: [d]}]\nrouter: {host: r}\n")
        argv = [*PDCOMPOSE, "doctor", str(topology), "--context", context, "--timeout", str(DOCTOR_TIMEOUT), "--json"]
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            times.append(time.perf_counter() - t0)
            if done.returncode != 1 or f"did not answer within {DOCTOR_TIMEOUT:g} s" not in done.stdout + done.stderr:
                raise RuntimeError(f"doctor on a silent host did not time out as expected:\n{done.stdout[-2000:]}"
                                   f"{done.stderr[-2000:]}")
        return times


def _bench_config(url: str, **kw: object):  # noqa: ANN202
    from pdcompose.bench.workload import BenchConfig

    return BenchConfig(**{"base_url": url, "model": "mock-model", "random_input_len": 8, "random_output_len": 3,
                          **kw})


def drain_give_up(runs: int = 3) -> list[float]:
    from pdcompose.bench.client import make_session, send_request
    from pdcompose.bench.workload import Workload

    async def one() -> float:
        async with serve(sse([COMPLETIONS], hold=30)) as url:
            cfg = _bench_config(url, num_prompts=1, timeout=20)
            async with make_session(cfg) as session:
                t0 = time.perf_counter()
                await send_request(session, Workload(cfg), 0)
                return time.perf_counter() - t0
    return [asyncio.run(one()) for _ in range(runs)]


def paced_run(runs: int = 3) -> list[float]:
    from pdcompose.bench.client import run_requests

    async def one() -> float:
        async with serve(sse([COMPLETIONS])) as url:
            _, duration = await run_requests(_bench_config(url, num_prompts=PROMPTS, request_rate=RATE))
            return duration
    return [asyncio.run(one()) for _ in range(runs)]


def run() -> list[Figure]:
    from pdcompose.bench.client import DRAIN_GRACE

    doctor = [t / DOCTOR_TIMEOUT for t in doctor_on_a_silent_host()]
    drain = [t / DRAIN_GRACE for t in drain_give_up()]
    paced = [t / (PROMPTS / RATE) for t in paced_run()]
    return [Figure(SECTION, f"doctor on a silent host / its {DOCTOR_TIMEOUT:g} s --timeout (whole process)",
                   round(median(doctor), 2), "x", "<= 2", median(doctor) <= 2, doctor),
            Figure(SECTION, f"bench request held open after [DONE] / the {DRAIN_GRACE:g} s drain grace",
                   round(median(drain), 2), "x", "<= 1.5", median(drain) <= 1.5, drain),
            Figure(SECTION, f"{PROMPTS} arrivals at {RATE:g} req/s / their {PROMPTS / RATE:g} s",
                   round(median(paced), 2), "x", "<= 1.2", median(paced) <= 1.2, paced)]
