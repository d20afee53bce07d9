"""`lab up` and `lab down`: make every part of the lab, or remove every part, found by name.

`up` records the lab before it creates anything, and removes whatever it made if a step fails or Ctrl-C
comes; `down` finds the lab's namespaces, links, processes, mounts, contexts and SSH config by their names,
so it also cleans up after a crash.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pdcompose.engine import cli
from pdcompose.engine.cli import DockerTimeout
from pdcompose.lab import daemons, net, seed, sshconf, system
from pdcompose.lab.model import RUN_ROOT, STATE_ROOT, Lab, LabError, LabHost, load_lab, plan_lab

Say = Callable[[str], None]
WORKERS = 8    # hosts made at once: each start is mostly waiting for its daemon


def preflight() -> None:
    if os.geteuid() != 0:
        raise LabError("a lab needs root (network namespaces, a bridge, Docker daemons)")
    missing = system.missing_tools()
    if missing:
        raise LabError(f"missing on this machine: {', '.join(missing)} (Debian: apt-get install "
                       f"{' '.join(missing)}; `make setup` does it as root)")


def up(name: str, count: int, subnet: str, operator: bool, say: Say, seeded: tuple[str, ...] = ()) -> Lab:
    lab = plan_lab(name, count, subnet, operator)
    preflight()
    images = [seed.source(ref) for ref in seeded]       # refused before anything is made
    if load_lab(name) is not None or any(n.startswith(f"pdlab-{name}-") for n in system.netns_list()):
        raise LabError(f"lab '{name}' is already up (pdcompose lab down --name {name}, or another --name)")
    net.check_free(lab)
    lab.save()                    # first: `down` can find everything from here on
    try:
        _build(lab, say, images)
    except BaseException:
        say(f"lab '{name}': removing what was made")
        down(name, lambda _: None)
        raise
    return lab


def _build(lab: Lab, say: Say, images: list[seed.Source]) -> None:
    sshconf.make_keys(lab)
    net.make_bridge(lab)
    if lab.operator:
        net.make_operator(lab)
    say(f"lab '{lab.name}': {len(lab.hosts)} hosts on {lab.subnet} (bridge {lab.bridge})")
    with ThreadPoolExecutor(min(WORKERS, len(lab.hosts))) as pool:
        list(pool.map(lambda h: _make_host(lab, h, images), lab.hosts))
        list(pool.map(daemons.wait_ready, lab.hosts))
        if images:
            list(pool.map(lambda h: _check_seeded(h, images), lab.hosts))
            say(f"lab '{lab.name}': every host holds {', '.join(i.ref for i in images)} (seeded: hardlinked "
                "from this machine's store)")
    sshconf.write_client_config(lab)
    sshconf.make_contexts(lab)
    _check_ssh(lab)


def _make_host(lab: Lab, host: LabHost, images: list[seed.Source]) -> None:
    net.make_host(lab, host)
    seed.seed(host.home / "data", images)               # before its daemon starts: it reads its store once
    daemons.start(lab, host)


def _check_seeded(host: LabHost, images: list[seed.Source]) -> None:
    for img in images:
        found = cli.answers_at(host.socket, ["image", "inspect", "--format", "{{.Id}}", img.ref], timeout=30)
        if found is None or found.stdout.strip() != img.image_id:
            raise LabError(f"{host.name}: seeding {img.ref} failed: its daemon reports "
                           f"{found.stdout.strip() or found.last_error() if found else 'nothing (no answer)'}")


def _check_ssh(lab: Lab) -> None:
    """Every context answers through SSH: the route a deploy takes."""
    def one(host: LabHost) -> str | None:
        try:
            result = cli.run(host.name, host.context, ["version", "--format", "{{.Server.Version}}"], timeout=60)
        except DockerTimeout as exc:
            return str(exc)
        return None if result.ok else f"{host.context}: {result.last_error()}"
    with ThreadPoolExecutor(min(WORKERS, len(lab.hosts))) as pool:
        failed = [f for f in pool.map(one, lab.hosts) if f]
    if failed:
        raise LabError("the lab's hosts do not answer through SSH: " + "; ".join(failed))


def down(name: str, say: Say) -> list[str]:
    """Remove everything of lab `name` that exists; a second call finds nothing and says so."""
    lab = load_lab(name)
    netns = [n for n in system.netns_list() if n.startswith(f"pdlab-{name}-")]
    killed = daemons.kill_lab(name, netns)
    gone = [f"{killed} processes"] if killed else []
    gone += _unmount(name)
    gone += net.remove(name)
    gone += [f"context {c}" for c in sshconf.remove_contexts(name)]
    sshconf.remove_client_config(name)
    for root in (RUN_ROOT / name, STATE_ROOT / name):
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)
            gone.append(str(root))
    daemons.remove_cgroups(name)
    say(f"lab '{name}': removed " + (", ".join(gone) if gone else "nothing (none was up)")
        + ("" if lab or not gone else " (found by name: its record was gone)"))
    return gone


def _unmount(name: str) -> list[str]:
    roots = (str(RUN_ROOT / name), str(STATE_ROOT / name))
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(roots)]
    for mount in sorted(mounts, key=len, reverse=True):   # dockerd leaves its netns and overlay mounts
        system.quiet(["umount", "-l", mount])
    return [f"{len(mounts)} mounts"] if mounts else []

