"""The `weights` check: does every host that runs vLLM hold the model's revision, and the same commit?

Asked across hosts, not per host: a revision is only wrong relative to the others'. Hosts whose engine
did not answer are left out (their `engine` check already failed). Not in a real-engine rehearsal: its
vLLM loads the tiny model baked into the image, not `model:`."""

from __future__ import annotations

from pdcompose.doctor.model import CheckResult, failed, passed, skipped
from pdcompose.models.inventory import inventory, model_hosts, rehearsed
from pdcompose.models.judge import problems
from pdcompose.plan.models import Host, Plan

CHECK = "weights"


def applies(plan: Plan) -> bool:
    return not plan.substitutions and not plan.model.startswith("/")


def weights_checks(plan: Plan, hosts: list[Host], timeout: float) -> list[CheckResult]:
    targets = model_hosts(plan, hosts)
    if not targets or not applies(plan):
        return []
    inv, left = rehearsed(plan, inventory(plan, targets, timeout))
    found = {p.host: p for p in reversed(problems(inv))}      # the first problem of each host
    out = [skipped(name, CHECK, "rehearsal: no HF cache directory here (none is mounted in a rehearsal)")
           for name in left]
    for name, c in inv.caches.items():
        p = found.get(name)
        if p:
            out.append(failed(name, CHECK, p.detail, p.fix))
        else:
            shared = inv.shared_with(name)
            out.append(passed(name, CHECK, f"{inv.repo} {c.commit or ''} in {c.cache}, {c.size / 1e6:,.0f} MB"
                                           + (f" (cache shared with {', '.join(shared)})" if shared else "")))
    return out
