"""Is a host's Docker Engine reachable? Answered within a timeout, for every host at once.

python-on-whales has no timeouts, and an ssh context to an unroutable address hangs for about 30 s
on every call (ssh's ConnectTimeout). So each context is probed first with `docker --context X version`
under a subprocess timeout, and only reachable hosts are driven through python-on-whales.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pdcompose.engine.cli import DockerTimeout, run
from pdcompose.engine.fanout import each
from pdcompose.errors import HostUnreachable

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class EngineInfo:
    context: str
    version: str          # Engine version, e.g. "20.10.24+dfsg1"
    api_version: str
    os: str
    arch: str

    @property
    def major(self) -> int:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0


def probe(host: str, context: str, timeout: float = DEFAULT_TIMEOUT) -> EngineInfo:
    try:
        result = run(host, context, ["version", "--format", "{{json .Server}}"], timeout)
    except DockerTimeout:
        raise HostUnreachable(host, f"Docker context '{context}' did not answer within {timeout:.0f} s "
                                    "(host down, unroutable, or ssh waiting?)") from None
    if not result.ok:
        raise HostUnreachable(host, _reason(context, result.stderr))
    try:
        server = json.loads(result.stdout)
        return EngineInfo(context, server["Version"], server.get("ApiVersion", ""), server.get("Os", ""),
                          server.get("Arch", ""))
    except (ValueError, KeyError, TypeError):
        raise HostUnreachable(host, f"Docker context '{context}' answered without an Engine version") from None


def probe_all(hosts: dict[str, str], timeout: float = DEFAULT_TIMEOUT) -> dict[str, EngineInfo | HostUnreachable]:
    """{host: context} -> {host: info or the error}, probed in parallel so N dead hosts cost one timeout."""
    def one(item: tuple[str, str]) -> EngineInfo | HostUnreachable:
        try:
            return probe(item[0], item[1], timeout)
        except HostUnreachable as exc:
            return exc

    return dict(zip(hosts, each(one, list(hosts.items())), strict=True))


def _reason(context: str, stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no error text"
    if "context" in last and ("does not exist" in last or "not found" in last):
        return (f"no Docker context '{context}': create it, e.g. "
                f"`docker context create {context} --docker host=ssh://user@<address>`")
    return f"Docker context '{context}' is unreachable: {last}"
