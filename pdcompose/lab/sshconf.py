"""The operator's side of the lab's SSH: a key, a client config for the lab's addresses, one Docker context
per host (`ssh://root@<address>`).

The Docker CLI runs the system's `ssh` and reads ~/.ssh/config; it has no per-context SSH options. So the
lab writes its own file under ~/.ssh/pdcompose-lab/ and includes it from ~/.ssh/config with one marked
line, which `lab down` removes with the last lab.
"""

from __future__ import annotations

import sys
from pathlib import Path

from python_on_whales import DockerClient, DockerException

from pdcompose.lab import system
from pdcompose.lab.model import Lab, LabError

MARK = "# pdcompose lab (removed by `pdcompose lab down`)"
INCLUDE = "Include ~/.ssh/pdcompose-lab/*.conf"


def make_keys(lab: Lab) -> None:
    lab.home.mkdir(parents=True, exist_ok=True)
    for key in (lab.key, lab.home / "ssh_host_ed25519_key"):
        if not key.exists():
            system.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"pdcompose-lab-{lab.name}",
                        "-f", str(key)])


def client_config(lab: Lab) -> str:
    lines = [f"# written by pdcompose lab up ({lab.name}); removed by pdcompose lab down",
             f"Host {' '.join(h.address for h in lab.hosts)}", "  User root", f"  IdentityFile {lab.key}",
             "  IdentitiesOnly yes", "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null",
             "  LogLevel ERROR", "  BatchMode yes"]
    if lab.ssh_delay_ms:
        # No netem qdisc in this kernel: a relay on the client's side delays each direction instead.
        lines.append(f"  ProxyCommand {sys.executable} -m pdcompose.lab.relay --delay-ms {lab.ssh_delay_ms} %h %p")
    return "\n".join(lines) + "\n"


def write_client_config(lab: Lab) -> None:
    lab.ssh_config.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = lab.ssh_config.with_suffix(".tmp")
    tmp.write_text(client_config(lab))
    tmp.replace(lab.ssh_config)
    _include(True)


def remove_client_config(lab_name: str) -> None:
    path = Path.home() / ".ssh" / "pdcompose-lab" / f"{lab_name}.conf"
    path.unlink(missing_ok=True)
    if not any(path.parent.glob("*.conf")):
        _include(False)


def _include(present: bool) -> None:
    config = Path.home() / ".ssh" / "config"
    text = config.read_text() if config.exists() else ""
    lines = [line for line in text.splitlines() if line not in (MARK, INCLUDE)]
    if present:   # first: an Include after a `Host` block would apply only inside that block
        lines = [MARK, INCLUDE, *lines]
    config.parent.mkdir(exist_ok=True, mode=0o700)
    tmp = config.with_suffix(".pdcompose-tmp")
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
    tmp.chmod(0o600)
    tmp.replace(config)


def make_contexts(lab: Lab) -> None:
    docker = DockerClient()
    existing = {c.name for c in docker.context.list()}
    for host in lab.hosts:
        if host.context in existing:
            docker.context.remove(host.context, force=True)
        try:
            docker.context.create(host.context, description=f"pdcompose lab {lab.name}, host {host.name}",
                                  docker={"host": f"ssh://root@{host.address}"})
        except DockerException as exc:
            raise LabError(f"cannot create Docker context {host.context}: {exc.stderr or exc}") from None


def remove_contexts(lab_name: str) -> list[str]:
    docker = DockerClient()
    names = [c.name for c in docker.context.list() if c.name.startswith(f"pdlab-{lab_name}-n")]
    if names:
        docker.context.remove(list(names), force=True)
    return names
