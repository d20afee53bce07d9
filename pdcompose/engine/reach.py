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
    text = stderr.replace("\n", " ")
    # Only an ssh:// context's failures are reworded (the CLI names its ssh command, or the placeholder
    # host it dials through it); a tcp:// or unix:// one keeps Docker's own words, which name the address.
    over_ssh = "ssh" in text or "docker.example.com" in text
    for needle, what in _SSH_FAILURES if over_ssh else ():
        if needle in text:
            return f"Docker context '{context}' is unreachable: {what}"
    return f"Docker context '{context}' is unreachable: {last}"


# What the Docker CLI's ssh:// transport prints, said as the operator's problem (its own text is long and
# ends in "make sure the URL is valid, and Docker 18.09 or later is installed", whatever went wrong).
_SSH_FAILURES = (
    ("Permission denied", "SSH refused the key (Permission denied)"),
    ("Host key verification failed", "SSH does not trust the host's key (Host key verification failed)"),
    ("Cannot connect to the Docker daemon", "SSH works, but no Docker daemon answers on the host"),
    ("Connection refused", "nothing answers SSH on the host (Connection refused)"),
    ("Connection timed out", "SSH timed out (host down or unroutable)"),
    ("No route to host", "no route to the host (down or unroutable)"),
    ("Could not resolve hostname", "the host's name does not resolve"),
)
_SSH_FIXES = {
    "SSH refused the key": "give {host}'s authorized_keys the key ssh offers (`ssh -v` to its address says which), "
                           "or point ~/.ssh/config at the right IdentityFile",
    "SSH does not trust": "check the host key, then add it to ~/.ssh/known_hosts (ssh-keyscan)",
    "no Docker daemon answers": "start the Docker daemon on {host} (systemctl start docker), then "
                                "`docker --context {context} version`",
    "nothing answers SSH": "start sshd on {host}, or fix the port in the context's ssh:// URL",
}


def fix_for(host: str, context: str, reason: str) -> str:
    """The fix for an unreachable host, as specific as its reason allows."""
    for start, fix in _SSH_FIXES.items():
        if start in reason:
            return fix.format(host=host, context=context)
    return f"check that {host} is up and that `docker --context {context} version` answers"
