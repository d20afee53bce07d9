"""Checks that must pass before anything starts: secrets present, contexts reachable, images there."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from python_on_whales import DockerException

from pdcompose.engine.clients import engine_client
from pdcompose.engine.errors import wrapped
from pdcompose.engine.reach import EngineInfo, probe_all
from pdcompose.errors import HostUnreachable, PdcomposeError
from pdcompose.plan.models import Host, Plan, SecretRef

REHEARSAL_PLACEHOLDER = "rehearsal-placeholder-secret"


def secret_variables(plan: Plan, hosts: list[Host]) -> set[str]:
    names = {s.from_env for h in hosts for s in h.secrets}
    names |= {v.from_env for h in hosts for c in h.containers for v in c.env.values() if isinstance(v, SecretRef)}
    return names


def require_secrets(plan: Plan, hosts: list[Host]) -> list[str]:
    """Every variable the hosts' files read at `up` must be set. A rehearsal gives missing ones a
    placeholder (the mocks never use them); returns the names it filled in."""
    missing = sorted(n for n in secret_variables(plan, hosts) if not os.environ.get(n))
    if missing and not plan.rehearsal:
        raise PdcomposeError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the topology "
                             "reads secrets from your environment when the containers start (export it first)")
    for name in missing:
        os.environ[name] = REHEARSAL_PLACEHOLDER
    return missing


def require_reachable(hosts: list[Host], timeout: float) -> dict[str, EngineInfo]:
    results = probe_all({h.name: h.context for h in hosts}, timeout)
    dead = [r for r in results.values() if isinstance(r, HostUnreachable)]
    if dead:
        raise PdcomposeError("unreachable, nothing was started:\n  " + "\n  ".join(str(d) for d in dead))
    return results  # type: ignore[return-value]


def require_images(hosts: list[Host]) -> list[str]:
    """Images a host must already have (pull_policy never) are checked; others are reported as pulls."""
    def check(host: Host) -> tuple[list[str], list[str]]:
        missing, pulls = [], []
        docker = engine_client(host.context)
        for image in sorted({c.image for c in host.containers}):
            try:
                present = docker.image.exists(image)
            except DockerException as exc:
                raise wrapped(host.name, exc) from None
            if not present:
                policy = {c.pull_policy for c in host.containers if c.image == image}
                (missing if policy == {"never"} else pulls).append(image)
        return missing, pulls

    with ThreadPoolExecutor(max_workers=min(16, len(hosts) or 1)) as pool:
        results = dict(zip([h.name for h in hosts], pool.map(check, hosts), strict=True))
    absent = [f"{image} on {host}" for host, (missing, _) in results.items() for image in missing]
    if absent:
        raise PdcomposeError(f"missing images (pull_policy never), nothing was started: {', '.join(absent)}; "
                             "`pdcompose images push` copies them to the hosts")
    return [f"{image} on {host}" for host, (_, pulls) in results.items() for image in pulls]
