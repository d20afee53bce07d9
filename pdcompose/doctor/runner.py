"""Run the checks: every host in parallel, each Docker call under a timeout.

Per host: is the engine reachable (if not, the rest is skipped: a dead host costs one timeout, not
one per check); which images it has, and whether they and its profile match its CPU architecture;
then, in a container from one of those images, the host probe, the GPU probe and one path probe per
mounted directory, side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from typing import Any

from pdcompose.doctor import arch_checks, container, engine_checks, holders, hw_checks, network_checks
from pdcompose.doctor.firewall_check import firewall_check
from pdcompose.doctor.model import CHECKS, FAST, CheckResult, failed, ordered, skipped
from pdcompose.doctor.needs import Needs, needs
from pdcompose.doctor.nic_check import interface_check, probe_args
from pdcompose.doctor.weights import weights_checks
from pdcompose.engine.cli import DockerTimeout
from pdcompose.engine.fanout import each, together
from pdcompose.engine.reach import fix_for, probe
from pdcompose.errors import HostUnreachable, PdcomposeError
from pdcompose.hardware import GDRCOPY, IMEX, INFINIBAND, NVIDIA_RUNTIME
from pdcompose.plan.models import Host, Plan

HOST_PROBED = ("address", "interface", "ports", INFINIBAND, IMEX, GDRCOPY, "devices")   # answered by the host probe
DEFAULT_TIMEOUT = 10.0
CONTAINER_FACTOR = 3           # a probe container starts, runs and is removed: give it more than one call
REHEARSAL_SKIPS = {NVIDIA_RUNTIME: "rehearsal: no GPUs are reserved", "gpus": "rehearsal: no GPUs are reserved",
                   INFINIBAND: "rehearsal: no devices are mapped", IMEX: "rehearsal: no devices are mapped",
                   GDRCOPY: "rehearsal: no devices are mapped",
                   "devices": "rehearsal: no devices are mapped", "hf-cache": "rehearsal: no host directory is mounted"}


def run_doctor(plan: Plan, hosts: list[Host], timeout: float = DEFAULT_TIMEOUT,
               checks: tuple[str, ...] = CHECKS) -> list[CheckResult]:
    per_host = each(lambda h: check_host(plan, h, timeout, checks), hosts)
    results = [r for rs in per_host for r in rs]
    if "weights" in checks:     # across hosts: a revision is wrong only relative to the others'
        up = {r.host for r in results if r.check == "engine" and r.status != "fail"}
        results += weights_checks(plan, [h for h in hosts if h.name in up], timeout * CONTAINER_FACTOR)
    return ordered(results, [h.name for h in hosts])


def fast_checks(plan: Plan, hosts: list[Host], timeout: float = DEFAULT_TIMEOUT) -> list[CheckResult]:
    """What deploy runs before it starts anything: reachability, images, ports."""
    return run_doctor(plan, hosts, timeout, FAST)


def require_fast_checks(plan: Plan, hosts: list[Host], timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Raise when a fast check fails; otherwise return one line per warning and a summary line."""
    results = fast_checks(plan, hosts, timeout)
    bad = [r for r in results if r.failed]
    if bad:
        raise PdcomposeError("doctor found problems, nothing was started (`pdcompose doctor` for the full "
                             "check; --skip-doctor to deploy anyway):\n  " + "\n  ".join(r.line() for r in bad))
    notes = [r.line() for r in results if r.status == "warn"]
    return [*notes, f"engine, architecture, images, NICs and ports fine on {len(hosts)} host(s)"]


def check_host(plan: Plan, host: Host, timeout: float, checks: tuple[str, ...]) -> list[CheckResult]:
    n = needs(host, plan.model)
    if plan.firewall is None:                # only a plan with a firewall has this check
        checks = tuple(c for c in checks if c != "firewall")
    try:
        info = probe(host.name, host.context, timeout)
    except HostUnreachable as exc:
        return [_unreachable(host, str(exc).removeprefix(f"{host.name}: ")),
                *(skipped(host.name, c, "engine unreachable") for c in checks if c != "engine")]
    out = [engine_checks.engine(host, info, n)]
    if "firewall" in checks:
        out.append(firewall_check(plan, host))
    checks = tuple(c for c in checks if c != "firewall")
    scan = engine_checks.images(host, n, timeout)
    out.append(scan.result)
    if "arch" in checks:
        out.append(arch_checks.arch_check(host, scan.present, n, timeout))
    rest = [c for c in checks if c not in ("engine", "arch", "images")]
    if plan.rehearsal:
        out += [skipped(host.name, c, REHEARSAL_SKIPS[c]) for c in rest if c in REHEARSAL_SKIPS]
        rest = [c for c in rest if c not in REHEARSAL_SKIPS]
    image = next(iter(scan.present), None)
    if image is None:
        out += [skipped(host.name, c, "no image of the plan is on this host to run the probe in "
                                      "(`pdcompose images push`)") for c in rest]
        return out
    return out + [r for r in _probed(plan, host, n, image, timeout, rest) if r.check in rest]


def _unreachable(host: Host, reason: str) -> CheckResult:
    if reason.startswith("no Docker context"):
        return failed(host.name, "engine", f"no Docker context '{host.context}' on this machine",
                      f"docker context create {host.context} --docker host=ssh://<user>@{host.address}")
    return failed(host.name, "engine", reason, fix_for(host.name, host.context, reason))


def _probed(plan: Plan, host: Host, n: Needs, image: str, timeout: float, checks: list[str]) -> list[CheckResult]:
    t = timeout * CONTAINER_FACTOR
    want_host = any(c in checks for c in HOST_PROBED)
    want_gpus = any(c in checks for c in (NVIDIA_RUNTIME, "gpus")) and n.uses_gpus
    paths = list(n.paths) if "hf-cache" in checks else []
    host_args = {"addresses": list(n.addresses), "ports": [[p.bind, p.port] for p in n.ports if "ports" in checks],
                 "devices": hw_checks.probed_devices(host, n),
                 **(probe_args(plan, host, n) if "interface" in checks else {})}
    probes: dict[str | tuple[str, str], Callable[[], Attempt]] = {}
    if want_host:
        probes["host"] = partial(_attempt, container.host_probe, host.name, host.context, image, host_args, t)
    if want_gpus:
        probes["gpus"] = partial(_attempt, container.gpu_probe, host.name, host.context, image, t)
    for p in paths:
        probes[("path", p)] = partial(_attempt, container.path_probe, host.name, host.context, image, p, n.model_dir, t)
    done = dict(zip(probes, together(list(probes.values())), strict=True))
    out: list[CheckResult] = []
    if "host" in done:
        found, error = done["host"]
        if error is not None:
            fix = (f"`docker --context {host.context} run --rm --network host --pid host --entrypoint python3 {image} "
                   "-c 1` shows why; `deploy --skip-doctor` goes ahead without these checks")
            out += [failed(host.name, c, f"the probe container failed: {error}", fix)
                    for c in HOST_PROBED]
        elif found is not None:
            ps = cache(lambda: holders.running(host.name, host.context, timeout))
            out += [network_checks.addresses(host, n, found, plan.rehearsal), interface_check(plan, host, n, found),
                    network_checks.ports(host, n, found, ps), *hw_checks.device_checks(host, n, found)]
    if "gpus" in done:
        out += hw_checks.gpu_checks(host, n, *done["gpus"])
    else:
        out += hw_checks.gpu_checks(host, n, None, None) if not n.uses_gpus else []
    found_paths = {p: _answer_or_error(done["path", p]) for p in paths}
    out.append(hw_checks.path_checks(host, n, found_paths, plan.model))
    return out


Attempt = tuple[dict[str, Any] | None, str | None]


def _answer_or_error(attempt: Attempt) -> dict[str, Any] | str:
    found, error = attempt
    return found or error or "the probe gave no answer"


def _attempt(fn: Any, *args: Any) -> Attempt:
    try:
        return fn(*args), None
    except container.ProbeFailed as exc:
        return None, str(exc)
    except DockerTimeout as exc:
        return None, str(exc).removeprefix(f"{exc.host}: ")
