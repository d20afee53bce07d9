"""Rehearsal: the same topology with three substitutions, so what is rehearsed is what will run.

1. images: vLLM -> the mock vLLM image; router -> the locally built router image;
2. hardware: no GPU reservations, IB/IMEX devices, memlock or host bind mounts (the planner reads
   `rehearsal.enabled` for these);
3. addresses: host i -> 127.0.0.(10+i), reached through its own Docker context on the local engine,
   so every node keeps the guide's ports (the planner adds `--host <address>` to each vLLM node).
"""

from __future__ import annotations

import dataclasses
import ipaddress

from pdcompose import defaults
from pdcompose.catalog import image_version
from pdcompose.topology import Resolved
from pdcompose.topology.models import Role

CONTEXT_PREFIX = "rehearsal-"


def rehearsal_address(first: str, index: int) -> str:
    return str(ipaddress.ip_address(first) + index)


def rehearsal_context(cluster: str, host: str) -> str:
    """Named after the cluster too, so rehearsals of two clusters never share (or remove) a context."""
    return f"{CONTEXT_PREFIX}{cluster}-{host}"


def rehearse(resolved: Resolved) -> Resolved:
    t = resolved.topology
    first = t.rehearsal.first_address
    hosts = {name: h.model_copy(update={"address": rehearsal_address(first, i),
                                        "context": rehearsal_context(t.name, name)})
             for i, (name, h) in enumerate(t.hosts.items())}
    rehearsal = t.rehearsal.model_copy(update={"enabled": True})
    # The mock stands in for the pinned vLLM: flags are judged by that release, not by the mock's tag.
    version = t.vllm_version or (image_version(t.image) if t.image else None)
    topology = t.model_copy(update={
        "vllm_version": version,
        "hosts": hosts, "rehearsal": rehearsal, "pull_policy": "never",
        "image": rehearsal.mock_image or defaults.MOCK_VLLM_IMAGE,
        "prefill": _without_images(t.prefill), "decode": _without_images(t.decode),
    })
    return dataclasses.replace(resolved, topology=topology)


def _without_images(role: Role) -> Role:
    instances = [i.model_copy(update={"image": None}) for i in role.instances]
    return role.model_copy(update={"image": None, "instances": instances})
