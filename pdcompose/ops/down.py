"""`pdcompose down`: stop the group watchdogs, then in reverse dependency order (router, decode, prefill), then remove
every container of each host's project, including ones a partial or interrupted deploy left."""

from __future__ import annotations

import functools

from python_on_whales import DockerException

from pdcompose.engine.clients import project_client
from pdcompose.engine.errors import wrapped
from pdcompose.engine.fanout import parallel
from pdcompose.plan.models import Host
from pdcompose.progress import Reporter

ORDER = ("watchdog", "router", "decode", "prefill")   # watchdogs first: they would restart what stops


def down(hosts: list[Host], report: Reporter, timeout: int = 30) -> list[str]:
    """Returns the hosts whose project was removed."""
    for role in ORDER:
        with_role = [h for h in hosts if any(c.role == role for c in h.containers)]
        if with_role:
            report.step(f"stopping {role} on {', '.join(h.name for h in with_role)}")
            parallel(functools.partial(_stop, role=role, timeout=timeout), with_role)
    report.step(f"removing the Compose projects on {len(hosts)} host(s)")
    parallel(_remove, hosts)
    return [h.name for h in hosts]


def _stop(host: Host, role: str, timeout: int) -> None:
    services = [c.service for c in host.containers if c.role == role]
    try:
        project_client(host).compose.stop(services=services, timeout=timeout)
    except DockerException as exc:
        if "no such service" not in (exc.stderr or "").lower() and "no container" not in (exc.stderr or "").lower():
            raise wrapped(host.name, exc) from None


def _remove(host: Host) -> None:
    try:
        project_client(host).compose.down(remove_orphans=True, timeout=10, quiet=True)
    except DockerException as exc:
        raise wrapped(host.name, exc) from None
