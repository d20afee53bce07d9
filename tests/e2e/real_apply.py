"""`pdcompose apply` on the real engine across lab hosts (issue 20's cases a and b with real `vllm serve`), under
a steady load of streaming completions through the real router. The scenario is tests/e2e/test_real_engine.py;
the same cases with the mock (and c, d, the faults) are tests/integration/test_apply.py.

In order: a second prefill instance added on the spare host (--defer-router: it waits out of rotation), the
router restart that takes it in (--allow-downtime: measured, not zero), a flag change on the first prefill
(--defer-router: the second serves meanwhile), the router restart again, the second prefill removed. Every
--defer-router step must fail no request, leave every other container as it was, and pair every request it
served (the decodes, never restarted here, finished as many requests as succeeded, each with one NIXL pull).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tests.apply.steady import Load
from tests.e2e.real import MODEL, Deployment, delta
from tests.lab.kit import host_docker

# 2 streams, not the mock suite's 16: the 2 cores here also run 5-6 CPU engines, and under 8 streams that kept them
# all busy a new prefill took over 6 minutes to start (2 minutes at deploy). The zero-failure cases do not depend
# on the number of streams: the router sends nothing to an instance it removed, and the drain waits for the rest.
CONCURRENCY = 2
PROMETHEUS = "prometheus"      # an instance added or removed changes its scrape targets: apply recreates it


@dataclass
class Step:
    what: str
    args: tuple[str, ...]
    result_code: int
    seconds: float
    sent: int
    failed: int
    errors: str
    paired: dict[str, float]

    def line(self) -> str:
        return f"{self.what}: {self.failed}/{self.sent} failed in {self.seconds:.0f} s"


def containers(real: Deployment) -> dict[str, str]:
    """service -> container id, on every lab host (the test's view)."""
    out: dict[str, str] = {}
    for host in real.lab.hosts:
        listed = host_docker(real.lab, host.name, "ps", "-a", "--format",
                             '{{.ID}} {{.Label "com.docker.compose.service"}}').stdout
        out.update({svc: cid for cid, svc in (line.split() for line in listed.splitlines())})
    return out


def routed(real: Deployment) -> set[str]:
    return {w["url"] for w in httpx.get(f"{real.router}/workers", timeout=10).json()["workers"]}


def under_load(real: Deployment, what: str, source: str, *args: str) -> Step:
    """Write the topology, run `pdcompose apply ARGS` while CONCURRENCY streams go through the router."""
    real.rewrite(source)
    before = real.counters()
    with Load(real.router, MODEL, concurrency=CONCURRENCY) as load:
        time.sleep(2)
        t0 = time.monotonic()
        result = real.cli("apply", *args, ok=None, timeout=1800)
        took = time.monotonic() - t0
        time.sleep(2)
    moved = delta(before, real.counters())
    step = Step(what, args, result.returncode, took, len(load.outcomes), len(load.failed), load.summary(), moved)
    print(f"apply {' '.join(args)} ({what}) -> {result.returncode} in {took:.0f} s; {load.summary()}; the decodes "
          f"finished {moved['decode_requests']:.0f} with {moved['nixl_transfers']:.0f} NIXL pulls "
          f"({moved['nixl_failed']:.0f} failed)\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    assert result.returncode == 0, result.stdout + result.stderr
    return step


def zero_failures(step: Step, real: Deployment, before: dict[str, str], changed: set[str]) -> None:
    """A --defer-router step: no failed request, every request served was paired P->D, and only `changed`
    services have new containers (a removed one is gone, an added one new)."""
    assert step.failed == 0, step.errors
    ok = step.sent - step.failed
    assert step.paired["decode_requests"] == ok == step.paired["nixl_transfers"], step.paired
    assert step.paired["nixl_failed"] == 0, step.paired
    after = containers(real)
    kept = {svc for svc in before if svc not in changed}
    assert {svc: after.get(svc) for svc in kept} == {svc: before[svc] for svc in kept}, "restarted behind the step"
    assert all(after.get(svc) != before.get(svc) for svc in changed), (changed, before, after)


def the_cases(real: Deployment, source: Callable[..., str]) -> list[Step]:
    """`source(second_prefill=..., first_args=...)` is the scenario's topology with those changes."""
    steps = []
    before = containers(real)
    steps.append(under_load(real, "b. a second prefill added", source(second_prefill=True), "--defer-router"))
    zero_failures(steps[-1], real, before, {"prefill-1-node-0", PROMETHEUS})
    p1_url = real.url_of["prefill-1-node-0"]
    assert real.host_of["prefill-1-node-0"] not in {real.host_of[s] for s in before if s in real.host_of}
    assert p1_url not in routed(real)
    steps.append(under_load(real, "the router restart that takes it in", source(second_prefill=True),
                            "--allow-downtime"))
    assert p1_url in routed(real)

    flagged = source(second_prefill=True, first_args="{max-num-seqs: 32}")
    before = containers(real)
    steps.append(under_load(real, "a. a flag change on one of two prefills", flagged, "--defer-router"))
    zero_failures(steps[-1], real, before, {"prefill-0-node-0"})
    assert real.prefill not in routed(real) and p1_url in routed(real)
    steps.append(under_load(real, "the router restart that takes it back", flagged, "--allow-downtime"))
    assert real.prefill in routed(real)

    before = containers(real)
    steps.append(under_load(real, "b. the second prefill removed", source(second_prefill=False,
                                                                          first_args="{max-num-seqs: 32}"),
                            "--defer-router"))
    zero_failures(steps[-1], real, before, {"prefill-1-node-0", PROMETHEUS})
    assert p1_url not in routed(real)
    left = json.loads(real.cli("apply", "--dry-run", "--json").stdout)["changes"]
    assert left == [], left
    return steps
