"""Topologies for a lab: a skeleton of its hosts, or a user's topology moved onto them.

A moved topology keeps everything but the hosts' addresses, contexts and NICs, and rehearses on the lab:
`rehearsal: {enabled: true, addresses: hosts}` (mock or real engine, no GPUs; the lab's real addresses,
reached over SSH).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from pdcompose.lab import net
from pdcompose.lab.model import Lab, LabError, LabHost


def skeleton(lab: Lab) -> str:
    hosts = "\n".join(f"  {h.name}: {{address: {h.address}, context: {h.context}, docker_socket: {_socket(h)}}}"
                      for h in lab.hosts)
    return (f"# the hosts of lab '{lab.name}' (pdcompose lab up): use them in a topology, or move one onto\n"
            f"# the lab with `pdcompose lab topology --for FILE -o OUT`\nhosts:\n{hosts}\n"
            "rehearsal: {enabled: true, addresses: hosts}   # mock engine and no GPUs, on the lab's hosts\n")


def moved(lab: Lab, source: Path) -> str:
    yaml = YAML()              # round trip: the user's comments and order stay
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        data = yaml.load(source.read_text())
    except (OSError, YAMLError) as exc:
        raise LabError(f"{source}: cannot read it as YAML ({str(exc).splitlines()[0]}); "
                       f"`pdcompose validate {source}` says more") from None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
        raise LabError(f"{source}: no `hosts:` mapping to move onto the lab")
    names = list(data["hosts"])
    if len(names) > len(lab.hosts):
        raise LabError(f"{source} has {len(names)} hosts, lab '{lab.name}' {len(lab.hosts)}: "
                       f"pdcompose lab down, then pdcompose lab up {len(names)}")
    for name, host in zip(names, lab.hosts, strict=False):
        spec: Any = data["hosts"][name] if isinstance(data["hosts"][name], dict) else {}
        # The NIC too: a profile's GLOO/NCCL/UCX settings name it ({interface}), and a wrong one is a DP group
        # that never forms (Gloo would bind the address the host's name resolves to: 127.0.0.1 here).
        spec.update(address=host.address, context=host.context, interface=net.NIC, docker_socket=_socket(host))
        data["hosts"][name] = spec
    rehearsal: Any = data.get("rehearsal") if isinstance(data.get("rehearsal"), dict) else {}
    rehearsal.update(enabled=True, addresses="hosts")
    data["rehearsal"] = rehearsal
    header = (f"# {source.name} moved onto lab '{lab.name}' by pdcompose lab topology: each host keeps its\n"
              "# name and gets a lab host's address, NIC and Docker context (ssh://root@<address>).\n")
    text = io.StringIO()
    yaml.dump(data, text)
    return header + text.getvalue()


def _socket(host: LabHost) -> str:
    """Lab hosts share one filesystem: the socket path tells their daemons apart (the group watchdogs mount it)."""
    return host.socket.removeprefix("unix://")


def write(out: Path, text: str) -> None:
    """Atomically (a temporary file beside it, then a rename), so a failure leaves the old file whole."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True) if tmp.parent.is_dir() else None
        raise LabError(f"cannot write {out}: {exc.strerror or exc}") from None
