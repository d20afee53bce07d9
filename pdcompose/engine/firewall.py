"""The host firewall on a host, through its Docker context: `nft` in a short-lived privileged
(`--cap-add NET_ADMIN`), `--network host` container of pdcompose/firewall (Debian's nftables on the base
image, images/firewall/), so nothing is installed on the host and no SSH beyond the Docker context is
needed. The rules are the plan's (plan/firewall.py), fed on stdin; only the cluster's own nftables table
is ever touched."""

from __future__ import annotations

import subprocess

from pdcompose import defaults
from pdcompose.engine.cli import argv
from pdcompose.errors import DockerOperationError
from pdcompose.plan.models import Host

TIMEOUT = 60.0
LABEL = "io.pdcompose.helper=firewall"
NFT = "/usr/sbin/nft"        # by path: the base image sets no PATH, and runc's default lacks sbin


def _nft(host: Host, nft_args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    args = ["run", "--rm", *(["-i"] if stdin is not None else []), "--network", "host", "--cap-add", "NET_ADMIN",
            "--pull", "never", "--label", LABEL, "--entrypoint", NFT, defaults.FIREWALL_IMAGE, *nft_args]
    command = argv(host.context, args)
    try:
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise DockerOperationError(host.name, f"nft through Docker context '{host.context}' did not finish "
                                              f"within {TIMEOUT:.0f} s") from None


def _failed(host: Host, what: str, done: subprocess.CompletedProcess[str]) -> DockerOperationError:
    lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines()
             if ln.strip() and not ln.startswith("Run 'docker")]
    detail = lines[-1:] or [f"exit status {done.returncode}"]
    hint = (f" (is {defaults.FIREWALL_IMAGE} on the host? images/build.sh firewall, then docker save | docker load)"
            if "No such image" in done.stderr else "")
    return DockerOperationError(host.name, f"{what} failed: {detail[0]}{hint}")


def apply(host: Host, rules: str) -> None:
    done = _nft(host, ["-f", "-"], rules)
    if done.returncode != 0:
        raise _failed(host, "applying the firewall", done)


def remove(host: Host, table: str) -> bool:
    """Delete the cluster's table; False when it was not there."""
    done = _nft(host, ["delete", "table", "inet", table])
    if done.returncode != 0 and "No such file or directory" in done.stderr:
        return False
    if done.returncode != 0:
        raise _failed(host, "removing the firewall", done)
    return True


def live(host: Host, table: str) -> str | None:
    """The cluster's table as the host's kernel has it (`nft list table`), or None when it is absent."""
    done = _nft(host, ["list", "table", "inet", table])
    if done.returncode != 0 and "No such file or directory" in done.stderr:
        return None
    if done.returncode != 0:
        raise _failed(host, "reading the firewall", done)
    return done.stdout
