"""Every port each host opens: on which address, for what, and who needs to reach it. Pure: read from the
plan, so `pdcompose plan --ports`, the host firewall (plan/firewall.py) and the scan from outside judge
the same list.

"Who" is said in the plan's own words (host names): the router's host dials every API server; the decode
hosts dial the prefill hosts' NIXL side channels (and the prefills the decodes', as both are kv_both);
the nodes of a multi-node instance dial their master's DP RPC port; the monitoring host scrapes /metrics;
the deployer (this machine, or each host from inside through its context) probes /health and /v1/models.
Besides these, vLLM opens ports the plan cannot list (ZMQ sockets between the engines of a multi-node
instance, the NIXL/UCX transfers themselves): those need the cluster's hosts to reach each other, which
is why the firewall admits the cluster's addresses as a whole, not port by port.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pdcompose.plan.models import Container, Host, Plan, PortUse, Role


@dataclass(frozen=True)
class Opening:
    host: str
    address: str                    # the address it is bound on ("0.0.0.0": every interface)
    port: int
    count: int
    service: str
    purpose: str
    reached_by: list[str]           # host names, "the deployer", or "clients (anyone)"
    entry: bool                     # the cluster's door: everyone may reach it

    @property
    def span(self) -> str:
        return f"{self.port}-{self.port + self.count - 1}" if self.count > 1 else str(self.port)


def openings(plan: Plan) -> list[Opening]:
    entry = entry_service(plan)
    out = []
    for host in plan.hosts:
        for c in host.containers:
            for use in c.ports:
                is_entry = (c.service, use.purpose) == entry
                out.append(Opening(host.name, use.bind, use.port, use.count, c.service, use.purpose,
                                   ["clients (anyone)"] if is_entry else _who(plan, host, c, use), is_entry))
    return out


def entry_service(plan: Plan) -> tuple[str, str]:
    """(service, purpose) of the port clients use: the entry's TLS port when there is one (plan/entry.py),
    else the router's HTTP port."""
    from pdcompose.plan import entry

    return (entry.SERVICE, entry.PURPOSE) if plan.entry else ("router", "router")


def cluster_addresses(plan: Plan) -> list[str]:
    return sorted({h.address for h in plan.hosts})


def _who(plan: Plan, host: Host, c: Container, use: PortUse) -> list[str]:
    router = plan.router.host
    monitors = [h.name for h, m in plan.containers("monitoring")]
    if use.purpose == "API":
        return _names([router, *monitors]) + ["the deployer"]
    if use.purpose == "NIXL side channel":
        other: Role = "decode" if c.role == "prefill" else "prefill"
        return _names(h.name for h, w in plan.containers(other))
    if use.purpose == "DP RPC":
        return _names(h.name for h, w in plan.workers()
                      if (w.role, w.instance) == (c.role, c.instance) and h.name != host.name)
    if use.purpose == "router metrics":
        return _names(monitors) or ["nobody (no monitoring)"]
    if use.purpose == "router":      # behind an entry: the entry (on the same host) and the deployer's gate
        return [router, "the deployer"] if plan.entry else ["clients (anyone)"]
    if use.purpose in ("entry status", "entry metrics"):
        return _names([plan.router.host, *monitors]) + (["the deployer"] if use.purpose == "entry status" else [])
    return ["the operator"]          # Prometheus's own UI and API


def _names(names: Iterable[str]) -> list[str]:
    return sorted(set(names))
