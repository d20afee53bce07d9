"""`python -m pdcompose.bench.loadgen`: one benchmark run from the machine it runs on, for `pdcompose bench`
when the router is reached through its host's Docker context (bench/remote.py starts it there).

Reads a Job (JSON) on stdin, prints the BenchResult (JSON) on stdout and nothing else; a progress line
on stderr now and then. Needs only pydantic and aiohttp (the pdcompose image has both), not the CLI's
dependencies.
"""

from __future__ import annotations

import sys
import time

from pdcompose.bench import BenchConfig, Progress, run_bench
from pdcompose.frozen import Frozen

EVERY = 5.0          # seconds between two progress lines


class Job(Frozen):
    config: BenchConfig
    fingerprint: str
    labels: dict[str, str] = {}


def main() -> int:
    job = Job.model_validate_json(sys.stdin.buffer.read())
    last = [time.monotonic()]

    def progress(p: Progress) -> None:
        if time.monotonic() - last[0] >= EVERY:
            last[0] = time.monotonic()
            print(f"  {p.done}/{p.total} requests done, {p.failed} failed",
                  file=sys.stderr, flush=True)

    result = run_bench(job.config, fingerprint=job.fingerprint, labels=job.labels, progress=progress)
    sys.stdout.write(result.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
