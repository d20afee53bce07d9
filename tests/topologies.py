"""The small rehearsed PD topology the Docker tests (and a few without Docker) share: a prefill on host p,
decode instances (each a list of nodes, one host each), the router on r, each host its own address; in a
rehearsal every one of them is a loopback address from `first` on."""

from __future__ import annotations

from collections.abc import Sequence

NIXL = "{kv_connector: NixlConnector, kv_role: kv_both, kv_load_failure_policy: fail}"


def pd_topology(name: str, *, first: str, decodes: Sequence[Sequence[str]] = (("d",),), decode_extra: str = "",
                model: str = "faults/model", image: str | None = None, rehearsal: str = "load_delay: 0.5",
                enabled: bool = True, network: str = "10.0.0", extra: str = "") -> str:
    """`decode_extra` is added to each decode instance (`, env: {...}`), `rehearsal` to the rehearsal
    block's flow mapping, `extra` (top-level YAML) at the end."""
    hosts = ["p", *(node for nodes in decodes for node in nodes), "r"]
    decode = ", ".join(f"{{nodes: [{', '.join(nodes)}]{decode_extra}}}" for nodes in decodes)
    lines = [f"name: {name}", f"model: {model}", *([f"image: {image}"] if image else []),
             "args:", f"  kv-transfer-config: {NIXL}", "hosts:",
             *(f"  {h}: {{address: {network}.{i}{'' if h == 'r' else ', gpus: [0]'}}}" for i, h in enumerate(hosts, 1)),
             "prefill: [{nodes: [p]}]", f"decode: [{decode}]", "router: {host: r}",
             f"rehearsal: {{enabled: {str(enabled).lower()}, first_address: {first}, {rehearsal}}}"]
    return "\n".join(lines) + "\n" + extra
