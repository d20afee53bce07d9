"""A pdcompose lab for a test: up through the CLI, always down afterwards, and nothing of it left.

Needs root, dockerd, sshd and fuse-overlayfs (`make setup` installs them as root); without them the test
skips LOUDLY, except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pdcompose.lab.model import RUN_ROOT, STATE_ROOT, Lab, load_lab
from tests import conftest

PDC = [sys.executable, "-m", "pdcompose"]


def skip_or_fail(reason: str) -> None:
    conftest.skip_or_fail(f"NO LAB OF DOCKER HOSTS HERE, multi-host behaviour is NOT tested: {reason}")


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, Docker daemons)"
    from pdcompose.lab.system import missing_tools

    missing = missing_tools()
    return f"missing: {', '.join(missing)} (make setup, as root)" if missing else None


def pdc(*args: str, ok: bool | None = True, timeout: float = 600, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PDC, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if ok is not None and (done.returncode == 0) != ok:
        raise AssertionError(f"pdcompose {' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout[-4000:]}\n"
                             f"stderr:\n{done.stderr[-4000:]}")
    return done


def operator(lab: Lab, *args: str, ok: bool | None = True, timeout: float = 600,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """pdcompose run on the lab's operator machine, which reaches the hosts only over SSH."""
    return on_operator(lab, *PDC, *args, ok=ok, timeout=timeout, env=env)


def on_operator(lab: Lab, *argv: str, ok: bool | None = True, timeout: float = 600,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Any command on the lab's operator machine."""
    return pdc("lab", "exec", "--name", lab.name, "--", *argv, ok=ok, timeout=timeout, env=env)


@contextmanager
def lab_of(name: str, count: int, subnet: str, seed: tuple[str, ...] = ()) -> Iterator[Lab]:
    reason = why_not()
    if reason:
        skip_or_fail(reason)
    images = Path(__file__).resolve().parents[2] / "images" / "build.sh"
    subprocess.run([str(images), "mock", "router", "prometheus"], check=True, capture_output=True, timeout=1800)
    pdc("lab", "down", "--name", name, timeout=120)        # a crashed earlier run's leftovers
    pdc("lab", "up", str(count), "--name", name, "--subnet", subnet, *(a for ref in seed for a in ("--seed", ref)),
        timeout=300)
    lab = load_lab(name)
    assert lab is not None
    try:
        yield lab
    finally:
        pdc("lab", "down", "--name", name, timeout=300)
        assert not leftovers(name), leftovers(name)


def leftovers(name: str) -> list[str]:
    """Anything of lab `name` still on this machine."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line.split()[0] for line in netns.splitlines() if line.startswith(f"pdlab-{name}-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [f"link {ln.split(':')[1].strip()}" for ln in links.splitlines()
              if f"pdlb-{name}" in ln or f"pdlv{name}-" in ln]
    found += [str(p) for p in (RUN_ROOT / name, STATE_ROOT / name) if p.exists()]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {m}" for m in (str(RUN_ROOT / name), str(STATE_ROOT / name)) if m in mounts]
    contexts = subprocess.run(["docker", "context", "ls", "--format", "json"], capture_output=True, text=True).stdout
    found += [f"context {json.loads(c)['Name']}" for c in contexts.splitlines()
              if c.strip() and json.loads(c)["Name"].startswith(f"pdlab-{name}-")]
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    found += [f"process {p[:80]}" for p in procs.splitlines()
              if f"/pdlab/{name}/" in p or f"pdcompose-lab/{name}/" in p]
    rules = subprocess.run(["iptables", "-w", "5", "-S", "FORWARD"], capture_output=True, text=True).stdout
    found += [f"rule {r}" for r in rules.splitlines() if f"pdlab-{name}" in r]
    return found


def host_docker(lab: Lab, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The lab host's own daemon, through its socket on this machine (the test's view, not the operator's)."""
    h = lab.host(host)
    return subprocess.run(["docker", "-H", h.socket, *args], capture_output=True, text=True, timeout=60)


def moved(lab: Lab, source: Path, folder: Path) -> Path:
    """`source` moved onto the lab's hosts (pdcompose lab topology --for), as folder/pdcompose.yaml."""
    path = folder / "pdcompose.yaml"
    pdc("lab", "topology", "--name", lab.name, "--for", str(source), "-o", str(path))
    return path


def op(lab: Lab, topology: Path, *args: str, ok: bool | None = True, timeout: float = 600,
       ) -> subprocess.CompletedProcess[str]:
    """pdcompose on the operator machine with this topology (its bundle and lock file go beside it: run the
    test from the topology's folder)."""
    return operator(lab, *args, "-f", str(topology), ok=ok, timeout=timeout)


def containers_on(lab: Lab) -> dict[str, list[str]]:
    return {h.name: host_docker(lab, h.name, "ps", "-aq").stdout.split() for h in lab.hosts}
