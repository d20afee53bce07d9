"""Per-host nftables rules (`firewall: {enabled: true}`): the ports the plan opens on a host (plan/ports.py)
answer only the cluster's own hosts, loopback and `firewall.allow`; the entry port answers everyone; every
other port of the host (SSH, the Docker API, ...) is left as it was. Pure: text from the plan.

The rules live in a table of their own (`inet pdcompose_<cluster>`), so applying them again replaces
exactly them (the file deletes and recreates the table in one transaction) and removing them is
`delete table`: nothing else of the host's ruleset is touched. Cluster hosts are admitted as a whole,
not port by port, because vLLM also opens ports no plan can list (ZMQ sockets between the engines of a
multi-node instance, NIXL/UCX transfers). The hook runs before Docker's own chains (priority filter - 10)
and applies to host-network containers, which are all pdcompose runs.
"""

from __future__ import annotations

import ipaddress
import re

from pdcompose.plan.models import Host, Plan
from pdcompose.plan.ports import cluster_addresses, openings


def table_name(plan: Plan) -> str:
    return "pdcompose_" + re.sub(r"[^A-Za-z0-9_]", "_", plan.cluster)


def closed_ports(plan: Plan, host: Host) -> list[str]:
    """The host's ports (or ranges) only the cluster may reach: every planned one but the entry."""
    return [o.span for o in openings(plan) if o.host == host.name and not o.entry]


def ruleset(plan: Plan, host: Host) -> str:
    assert plan.firewall is not None
    admitted = sorted({*cluster_addresses(plan), *plan.firewall.allow})
    v4 = [a for a in admitted if ipaddress.ip_address(a).version == 4]
    v6 = [a for a in admitted if ipaddress.ip_address(a).version == 6]
    ports = closed_ports(plan, host)
    table = table_name(plan)
    lines = [f"# pdcompose firewall: host {host.name} ({host.address}) of cluster {plan.cluster}.",
             "# Generated: apply with `pdcompose firewall apply`, remove with `pdcompose firewall remove`.",
             f"table inet {table}", f"delete table inet {table}", f"table inet {table} {{"]
    if v4:
        lines.append(f"\tset cluster4 {{ type ipv4_addr; elements = {{ {', '.join(v4)} }}; }}")
    if v6:
        lines.append(f"\tset cluster6 {{ type ipv6_addr; elements = {{ {', '.join(v6)} }}; }}")
    lines += ["\tchain input {", "\t\ttype filter hook input priority filter - 10; policy accept;",
              '\t\tiif "lo" accept']
    lines += ["\t\tip saddr @cluster4 accept"] if v4 else []
    lines += ["\t\tip6 saddr @cluster6 accept"] if v6 else []
    if ports:
        lines.append(f"\t\ttcp dport {{ {', '.join(ports)} }} counter drop comment \"pdcompose: cluster only\"")
    lines += ["\t}", "}"]
    return "\n".join(lines) + "\n"


def rulesets(plan: Plan) -> dict[str, str]:
    """host name -> its rules; empty when the plan has no firewall."""
    if plan.firewall is None:
        return {}
    return {h.name: ruleset(plan, h) for h in plan.hosts}


_ELEMENTS = re.compile(r"elements\s*=\s*\{([^}]*)\}", re.S)
_DPORT = re.compile(r"tcp dport (\{[^}]*\}|\S+)[^\n]*drop")


def drift(plan: Plan, host: Host, live: str | None) -> list[str]:
    """What the host's live table (`nft list table`) lacks or has beyond the plan's rules; [] when it
    matches. Compared by meaning (admitted addresses, closed ports), not text: nft prints its own way."""
    if live is None:
        return ["the firewall is not applied (pdcompose firewall apply)"]
    assert plan.firewall is not None
    want_addrs = set(cluster_addresses(plan)) | set(plan.firewall.allow)
    have_addrs = {a.strip() for m in _ELEMENTS.findall(live) for a in m.split(",") if a.strip()}
    want_ports = set(closed_ports(plan, host))
    have_ports = {p.strip() for m in _DPORT.findall(live) for p in m.strip("{}").split(",") if p.strip()}
    out = [f"{a} may not reach the closed ports, but should" for a in sorted(want_addrs - have_addrs)]
    out += [f"{a} may reach the closed ports, but is not in the plan" for a in sorted(have_addrs - want_addrs)]
    out += [f"port {p} is open to everyone, but should be cluster only" for p in sorted(want_ports - have_ports)]
    out += [f"port {p} is closed, but the plan does not open it" for p in sorted(have_ports - want_ports)]
    return out
