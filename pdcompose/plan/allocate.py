"""GPU and port allocation on each host: deterministic, never probing for free ports.

The k-th vLLM container on a host (in topology order: prefill instances, then decode, nodes in order)
gets API port 8087 + k and the NIXL side-channel range that follows the ranges of the containers
before it; the DP RPC port of an instance is 13345 + k of its master node. With one container per
host, as in the guide, every node gets exactly the guide's ports. Explicit ports always win, and a
collision is reported, never moved.

vLLM's NixlConnector listens on VLLM_NIXL_SIDE_CHANNEL_PORT + the engine's GLOBAL data-parallel rank,
so a node whose engines are ranks 4-7 listens on base+4 .. base+7. The allocator works on those real
ports: it picks the base (5600 when free, as in the guide) so that the real range starts at or after
the host's next free side-channel port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdcompose.plan.findings import Findings
from pdcompose.plan.hosts import HostFacts
from pdcompose.topology.source import Loc

API_PORT = 8087
RPC_PORT = 13345
NIXL_PORT = 5600


@dataclass
class HostBook:
    """Running allocation state of one host."""

    facts: HostFacts
    slots: int = 0
    nixl_next: int = NIXL_PORT
    claimed: dict[int | str, Loc] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeAllocation:
    slot: int
    gpus: tuple[int | str, ...]
    api_port: int
    nixl_base: int                 # VLLM_NIXL_SIDE_CHANNEL_PORT
    nixl_first: int                # the port its first engine really listens on: base + first global DP rank


def allocate_node(book: HostBook, loc: Loc, gpu_count: int, explicit_gpus: list[int | str] | None,
                  port: int | None, nixl_port: int | None, findings: Findings,
                  first_rank: int = 0) -> NodeAllocation:
    """first_rank: the global data-parallel rank of the node's first engine."""
    slot = book.slots
    book.slots += 1
    gpus = _gpus(book, loc, gpu_count, explicit_gpus, findings)
    nixl_base = nixl_port if nixl_port is not None else max(NIXL_PORT, book.nixl_next - first_rank)
    nixl_first = nixl_base + first_rank
    book.nixl_next = max(book.nixl_next, nixl_first + max(gpu_count, 1))
    return NodeAllocation(slot, gpus, port if port is not None else API_PORT + slot, nixl_base, nixl_first)


def _gpus(book: HostBook, loc: Loc, count: int, explicit: list[int | str] | None,
          findings: Findings) -> tuple[int | str, ...]:
    host = book.facts
    if explicit is not None:
        if len(explicit) != count:
            findings.error("gpu-count", (*loc, "gpus"), (
                f"lists {len(explicit)} GPUs but the node needs {count} (tp x pipeline x dp_local)"))
        unknown = [g for g in explicit if host.gpus and g not in host.gpus]
        if unknown:
            findings.error("gpu-unknown", (*loc, "gpus"), (
                f"GPU {unknown[0]} is not one of {host.name}'s GPUs {list(host.gpus)}"))
        chosen = tuple(explicit)
    else:
        free = [g for g in host.gpus if g not in book.claimed]
        if len(free) < count:
            have = f"{len(free)} free of {list(host.gpus)}" if host.gpus else "no GPUs listed"
            holders = sorted({_where(owner) for owner in book.claimed.values()})
            held = f" ({', '.join(holders)} already use{'s' if len(holders) == 1 else ''} the rest)" if holders else ""
            findings.error("not-enough-gpus", loc, (
                f"needs {count} GPUs (tp x pipeline x dp_local) on '{host.name}', which has {have}{held}; "
                f"lower tp or set dp_local (it defaults to all of the host's GPUs / tp)"))
        chosen = tuple(free[:count])
    for gpu in chosen:
        if gpu in book.claimed:
            findings.error("gpu-claimed-twice", (*loc, "gpus"), (
                f"GPU {gpu} of '{host.name}' is already used by {_where(book.claimed[gpu])}"))
        else:
            book.claimed[gpu] = loc
    return chosen


def _where(loc: Loc) -> str:
    from pdcompose.topology.source import format_loc

    return format_loc(loc)
