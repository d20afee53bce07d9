"""`pdcompose deploy`: start every host in the right order, gated on health across hosts.

Order: every vLLM node in parallel; wait until every API server answers /health and lists the
model in /v1/models (watching the containers, so one that exits is reported at once); then the
router; then its /readiness must count the topology's workers and a one-token request must pass.
Compose itself makes a re-run with nothing changed a no-op.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from python_on_whales import DockerException

from pdcompose.deploy import containers, entry
from pdcompose.deploy.entry import load_file_secrets
from pdcompose.deploy.gate import gate_router, gate_workers
from pdcompose.deploy.model import DeployFailed, DeployOptions, DeployReport, Failure
from pdcompose.deploy.preflight import (
    REHEARSAL_PLACEHOLDER,
    missing_secrets,
    require_reachable,
    unset_secrets_error,
)
from pdcompose.deploy.selection import Scope, relevant_hosts, scope, select_hosts
from pdcompose.deploy.weights import DownloadWatch, require_weights
from pdcompose.doctor import require_fast_checks
from pdcompose.engine.access import Access
from pdcompose.engine.clients import deploy_client, project_client
from pdcompose.engine.contexts import ensure_rehearsal_contexts
from pdcompose.engine.errors import one_line, wrapped
from pdcompose.engine.fanout import parallel
from pdcompose.engine.inside import Request
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host, Plan
from pdcompose.progress import Reporter

FRONT = ("router", "entry")      # started after every API server is ready, router first

__all__ = ["DeployFailed", "DeployOptions", "DeployReport", "deploy", "state_summary"]


def deploy(plan: Plan, bundle: Path, opts: DeployOptions, report: Reporter) -> DeployReport:
    t0 = time.monotonic()
    hosts = select_hosts(plan, opts.contexts)
    load_file_secrets(plan, hosts)
    missing = missing_secrets(hosts)
    if missing and not plan.rehearsal:
        raise unset_secrets_error(missing, hosts)
    if missing:
        # `compose up` interpolates `${NAME:?...}` and fills secret files from them: a placeholder for this
        # process, which runs one deploy (python-on-whales cannot pass an environment to `compose up`). An
        # api_key placeholder is enforced by the mocks like a real key, and the gate sends the same one.
        os.environ.update(dict.fromkeys(missing, REHEARSAL_PLACEHOLDER))
        report.step(f"rehearsal: {', '.join(missing)} unset; the mocks get a placeholder")
    if plan.rehearsal:
        ensure_rehearsal_contexts(plan)
    relevant = relevant_hosts(plan, hosts)
    if opts.skip_doctor:
        require_reachable(relevant, opts.reach_timeout)      # never skipped: a dead host must not hang us
    else:
        for note in require_fast_checks(plan, hosts, opts.reach_timeout):
            report.step(f"doctor: {note}")
        require_reachable([h for h in relevant if h not in hosts], opts.reach_timeout)
    downloading = require_weights(plan, relevant, opts.allow_download, opts.reach_timeout * 3, report)
    before = parallel(containers.states, relevant)
    running = {h: {s for s, st in states.items() if st.status == "running"} for h, states in before.items()}
    sc = scope(plan, hosts, running)
    result = DeployReport([h.name for h in hosts], not_gated=sc.not_gated, timings={"preflight": time.monotonic() - t0})
    access = Access(opts.access, report.step)
    try:
        with DownloadWatch(plan, [h for h in relevant if h.name in downloading], report):
            _run(plan, bundle, opts, report, sc, before, result, t0, access)
    except (DeployFailed, KeyboardInterrupt) as exc:
        _on_failure(plan, hosts, before, opts, report, exc)
        raise
    except (PdcomposeError, DockerException) as exc:  # e.g. `docker ps` failing in the gate's container watch
        reason = one_line(exc) if isinstance(exc, DockerException) else str(exc)
        failed = DeployFailed(f"deploy stopped: {reason}", [], "")
        _on_failure(plan, hosts, before, opts, report, failed)
        raise failed from None
    after = parallel(containers.states, hosts)
    for host in hosts:
        mine = [c.service for c in host.containers]
        old, new = before.get(host.name, {}), after[host.name]
        same = [s for s in mine if s in old and s in new
                and (old[s].id, old[s].started_at) == (new[s].id, new[s].started_at)]
        result.unchanged[host.name] = same
        result.started[host.name] = [s for s in mine if s not in same]
    result.timings["total"] = time.monotonic() - t0
    result.access = access.ways()
    return result


def _run(plan: Plan, bundle: Path, opts: DeployOptions, report: Reporter, sc: Scope,
         before: dict[str, dict[str, containers.ContainerState]], result: DeployReport, t0: float,
         access: Access) -> None:
    worker_hosts = [h for h in sc.hosts if any(c.role not in FRONT for c in h.containers)]
    _stop_broken_groups(bundle, worker_hosts, before, report)
    if worker_hosts:
        report.step(f"starting vLLM nodes on {len(worker_hosts)} host(s): {', '.join(h.name for h in worker_hosts)}")
        _up_all(bundle, worker_hosts, lambda h: [c.service for c in h.containers if c.role not in FRONT])
    result.timings["workers_started"] = time.monotonic() - t0
    for note in sc.not_gated:
        report.step(note)
    timeout = opts.timeout if opts.timeout is not None else plan.health_timeout
    if sc.gated:
        report.step(f"waiting for {len(sc.gated)} API server(s): /health and /v1/models listing "
                    f"{plan.served_model_name} (up to {timeout:.0f} s)")
        gate = gate_workers(plan, sc.gated, sc.watch, before, timeout, report, access)
        result.timings["workers_ready"] = time.monotonic() - t0
        result.timings["last_worker_ready"] = max(gate.became_ready.values()) - t0
    if sc.router:
        router_host = plan.host(plan.router.host)
        report.step(f"all API servers ready; starting the router on {router_host.name}")
        result.timings["router_started"] = time.monotonic() - t0
        _up_all(bundle, [router_host], lambda h: ["router"])
        gate_router(plan, router_host, before, min(timeout, 600.0), report, access)
        result.timings["router_ready"] = time.monotonic() - t0
        if plan.entry is not None:
            report.step(f"router ready; starting the entry on {router_host.name}")
            _up_all(bundle, [router_host], entry.services)
            try:
                entry.wait_healthy(plan, router_host, access, report)
            except PdcomposeError as exc:
                raise DeployFailed(str(exc), [Failure(router_host.name, "entry", str(exc))], "") from None
            result.timings["entry_ready"] = time.monotonic() - t0
        if opts.smoke:
            result.smoke = _smoke(plan, access)
            report.step(f"smoke request through the router: {result.smoke}")


def _stop_broken_groups(bundle: Path, hosts: list[Host], before: dict[str, dict[str, containers.ContainerState]],
                        report: Reporter) -> None:
    """A multi-node DP group whose node died cannot take that node back alone (it forms once, around its
    master): stop the group's running nodes too, so `compose up` starts the whole group afresh. A node
    with no container yet is the guide's node-by-node start, joining a master that still waits for it."""
    groups: dict[tuple[str, int | None], list[tuple[Host, str]]] = {}
    for h in hosts:
        for c in h.containers:
            if c.dp and c.dp.nodes > 1:
                groups.setdefault((c.role, c.instance), []).append((h, c.service))
    for (role, instance), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        states = [(h, s, before.get(h.name, {}).get(s)) for h, s in members]
        up = [(h, s) for h, s, st in states if st and st.status == "running"]
        died = [s for _, s, st in states if st and st.status != "running"]
        if not up or not died:
            continue
        report.step(f"{role}-{instance} is one multi-node DP group and {', '.join(died)} died: stopping its "
                    f"other {len(up)} node(s) so the whole group starts afresh")
        _stop_each(bundle, up)


def _stop_each(bundle: Path, members: list[tuple[Host, str]]) -> None:
    def stop(host: Host) -> None:
        services = [s for h, s in members if h is host]
        try:
            deploy_client(host, bundle).compose.stop(services=services)
        except DockerException as exc:
            raise wrapped(host.name, exc) from None

    parallel(stop, list({id(h): h for h, _ in members}.values()))


def _up_all(bundle: Path, hosts: list[Host], services: Callable[[Host], list[str]]) -> None:
    def up(host: Host) -> None:
        try:
            deploy_client(host, bundle).compose.up(services=services(host), detach=True, quiet=True,
                                                   remove_orphans=True)
        except DockerException as exc:
            raise wrapped(host.name, exc) from None

    errors = {h: e for h, e in parallel(up, hosts, raise_first=False).items() if isinstance(e, Exception)}
    if errors:
        failures = [Failure(h, "-", str(e)) for h, e in errors.items()]
        raise DeployFailed(f"`compose up` failed on {', '.join(errors)}", failures, "")


def _smoke(plan: Plan, access: Access) -> str:
    body = {"model": plan.served_model_name, "prompt": "pdcompose smoke test", "max_tokens": 1, "temperature": 0}
    request = Request(f"{plan.router.url}/v1/completions", "POST", body, timeout=120)
    t = time.monotonic()
    try:
        answer = access.fetch(plan.host(plan.router.host), [request], via="router")[0]
    except PdcomposeError as exc:
        raise DeployFailed(f"smoke request through the router failed: {exc}", [], "") from None
    if answer.status is None:
        raise DeployFailed(f"smoke request through the router failed: {answer.error}", [], "")
    if answer.status != 200 or not _has_choices(answer.body):
        raise DeployFailed(f"smoke request through the router answered {answer.status}: "
                           f"{answer.body.decode(errors='replace')[:300]}", [], "")
    return f"200 in {1000 * (time.monotonic() - t):.0f} ms"


def _has_choices(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:                  # not JSON (a proxy's HTML page, a truncated body)
        return False
    return isinstance(parsed, dict) and bool(parsed.get("choices"))


def _on_failure(plan: Plan, hosts: list[Host], before: dict, opts: DeployOptions, report: Reporter,
                exc: BaseException) -> None:
    """Never leave a half-deployed cluster without saying so: state per host, or tear down (--rollback)."""
    fresh = [h for h in hosts if not before.get(h.name)]
    rollback_errors: list[str] = []
    if opts.rollback and fresh:
        report.step(f"rolling back: removing what this run created on {', '.join(h.name for h in fresh)}")
        results = parallel(_remove_project, fresh, raise_first=False)
        rollback_errors = [f"  rollback failed on {e}" for e in results.values() if isinstance(e, Exception)]
        for line in rollback_errors:
            report.step(line.strip())
    summary = "\n".join([state_summary(hosts), *rollback_errors])
    if isinstance(exc, DeployFailed):
        exc.state = summary
    else:
        report.step("interrupted; left as they are now (re-run deploy to converge, or down):\n" + summary)


def _remove_project(host: Host) -> None:
    try:
        project_client(host).compose.down(remove_orphans=True, timeout=30, quiet=True)
    except DockerException as exc:
        raise wrapped(host.name, exc) from None


def state_summary(hosts: list[Host]) -> str:
    lines = []
    for host, states in parallel(containers.states, hosts, raise_first=False).items():
        if isinstance(states, Exception):
            lines.append(f"  {host}: unknown ({states})")
        elif not states:
            lines.append(f"  {host}: nothing running")
        else:
            lines.append(f"  {host}: " + ", ".join(f"{s} {st.describe()}" for s, st in sorted(states.items())))
    return "\n".join(lines)


