"""`pdcompose apply`: read what runs, diff it against the new plan, print the change plan, carry it out.

The bundle in `out/` describes what runs (the last deploy or apply wrote it): it is what a failed instance
rolls back to. The new plan is rendered beside it first and replaces it only when every step is done, so
an apply that stops halfway (a failure, Ctrl-C) leaves `out/` able to roll back, and a second apply
(which diffs the running containers' labels, not the files) carries out only what is left.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pdcompose.apply.carry import Bundles, Carried, carry
from pdcompose.apply.diff import ROUTER_RESTART, change_plan
from pdcompose.apply.drain import in_router
from pdcompose.apply.model import ChangePlan
from pdcompose.apply.running import read_running
from pdcompose.deploy.entry import load_file_secrets
from pdcompose.deploy.preflight import REHEARSAL_PLACEHOLDER, missing_secrets, require_reachable, unset_secrets_error
from pdcompose.engine.access import Access
from pdcompose.engine.contexts import ensure_rehearsal_contexts
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host, Plan
from pdcompose.progress import Reporter
from pdcompose.render import render


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    allow_downtime: bool = False
    defer_router: bool = False          # every step but the router restart (instances wait out of rotation)
    drain_timeout: float = 300.0
    timeout: float | None = None
    reach_timeout: float = 10.0


def read_state(plan: Plan, old_plan: Plan | None, access: Access) -> ChangePlan:
    """The change plan from what runs on the hosts of both plans (a host the new plan drops may still run
    an instance to remove) and from the router's list of workers (an API server out of rotation)."""
    if plan.rehearsal:
        ensure_rehearsal_contexts(plan)
        if old_plan is not None:
            ensure_rehearsal_contexts(old_plan)
    hosts = _hosts(plan, old_plan)
    require_reachable(hosts, 10.0)
    running = read_running(hosts)
    router_host = plan.host(plan.router.host)
    routed = in_router(access, router_host, plan.router.url) if any(r.role == "router" for r in running) else None
    return change_plan(plan, running, routed)


def without_router(changes: ChangePlan) -> ChangePlan:
    steps = [s for s in changes.steps if s.kind != "restart-router"]
    downtime = [d for d in changes.downtime if not d.startswith(ROUTER_RESTART)]
    return ChangePlan(steps, downtime, changes.unchanged)


def _hosts(plan: Plan, old_plan: Plan | None) -> list[Host]:
    hosts = {h.name: h for h in (old_plan.hosts if old_plan else [])}
    hosts.update({h.name: h for h in plan.hosts})
    return list(hosts.values())


def apply(plan: Plan, old_plan: Plan | None, out: Path, changes: ChangePlan, opts: ApplyOptions,
          report: Reporter, access: Access) -> Carried:
    if opts.defer_router:
        changes = without_router(changes)       # idempotent: the CLI shows the plan without it already
    if changes.downtime and not opts.allow_downtime:
        defer = (" or --defer-router to do every other step now (changed and new instances then wait out of "
                 "rotation for a later `apply --allow-downtime`)") if any(s.kind == "restart-router"
                                                                          for s in changes.steps) else ""
        raise PdcomposeError("this change cannot be made while serving without failed requests: "
                             + "; ".join(changes.downtime) + f". Pass --allow-downtime to carry it out anyway{defer}")
    load_file_secrets(plan, plan.hosts)          # the entry's certificate and key, read and checked again
    missing = missing_secrets(plan.hosts)
    if missing and not plan.rehearsal:
        raise unset_secrets_error(missing, plan.hosts)
    os.environ.update(dict.fromkeys(missing, REHEARSAL_PLACEHOLDER))
    staging = out.parent / f".{out.name}.apply"
    shutil.rmtree(staging, ignore_errors=True)
    render(plan, staging)
    old = out if old_plan is not None and (out / "plan.json").is_file() else None
    timeout = opts.timeout if opts.timeout is not None else plan.health_timeout
    done = carry(plan, changes, Bundles(staging, old, old_plan), access, report, opts.drain_timeout, timeout,
                 readmit=opts.allow_downtime)
    # What runs now (with --defer-router, the router's file may be newer than the router: its next restart,
    # by a later apply, is what the deferral postponed).
    render(plan, out, force=True)
    shutil.rmtree(staging, ignore_errors=True)
    return done
