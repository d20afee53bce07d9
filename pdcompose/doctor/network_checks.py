"""address and ports: decided from the host probe's answer (probe.host_mode)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from pdcompose.doctor.holders import Holder, Running, holders, probable_owner
from pdcompose.doctor.model import CheckResult, failed, passed
from pdcompose.doctor.needs import Needs, PortNeed, port_list
from pdcompose.plan.models import Host


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address.lower() == "localhost"
    return ip.is_loopback or ip.is_unspecified


def addresses(host: Host, n: Needs, found: dict[str, Any], rehearsal: bool) -> CheckResult:
    own = [a for a in found.get("local_addresses", []) if not is_loopback(a)]
    choose = f"one of {host.name}'s addresses ({', '.join(own) or 'none found'})"
    problems = []
    if not rehearsal:
        for address, why in {**n.addresses, **n.remote_addresses}.items():
            if is_loopback(address):
                problems.append(f"{address} ({why}) is loopback: other hosts cannot reach it")
    for address, why in n.addresses.items():
        answer = found.get("addresses", {}).get(address, {})
        if answer.get("error"):
            problems.append(f"{address} ({why}) does not resolve on the host: {answer['error']}")
            continue
        ips = answer.get("ips", [])
        if not rehearsal and any(is_loopback(ip) for ip in ips) and not is_loopback(address):
            problems.append(f"{address} ({why}) resolves to {', '.join(ips)} on the host (see its /etc/hosts)")
        elif ips and all(answer["bind"].get(ip) for ip in ips):
            errors = sorted({answer["bind"][ip] for ip in ips})
            problems.append(f"{address} ({why}) is not an address of this host ({', '.join(errors)})")
    if problems:
        return failed(host.name, "address", "; ".join(problems), (
            f"set hosts.{host.name}.address to {choose}, and check that context '{host.context}' "
            f"reaches {host.name}"))
    note = " (loopback: fine for a rehearsal only)" if rehearsal else ""
    return passed(host.name, "address", f"{', '.join(n.addresses)} bound on the host{note}")


def ports(host: Host, n: Needs, found: dict[str, Any], containers: Callable[[], dict[str, Running]]) -> CheckResult:
    """`containers` is called only if a port is taken (one `docker ps`)."""
    by_port = {(p["bind"], p["port"]): p for p in found.get("ports", [])}
    free, own, problems, fixes = [], [], [], []
    for need in n.ports:
        answer = by_port.get((need.bind, need.port), {"error": "not probed"})
        error = answer.get("error")
        if error is None:
            free.append(need.port)
            continue
        what = f"{need.port} ({need.purpose} of {need.service}, on {need.bind})"
        if error != "EADDRINUSE":
            problems.append(f"{what} cannot be bound: {error}")
            fixes.append(f"bind {need.service} to an address of {host.name} (hosts.{host.name}.address)")
            continue
        held = holders(answer, need.port, containers(), host.project, host.context)
        if not held:      # /proc unreadable: trust our own running container that declares this port
            held = probable_owner(containers(), host.project, need.service)
        if held and all(h.own for h in held):
            own.append(need.port)
            continue
        problems.append(f"{what} is taken by {_names(held)}")
        fixes.append(f"{_stops(held, need)} or move {need.field} in the topology")
    if problems:
        return failed(host.name, "ports", "; ".join(problems), "; ".join(dict.fromkeys(fixes)))
    detail = f"{len(free)} free ({port_list(free)})" if free else "none free"
    if own:
        detail += f"; {len(own)} held by this deployment's own containers ({port_list(own)}), fine for a re-deploy"
    return passed(host.name, "ports", detail if n.ports else "no ports used")


def _names(held: list[Holder]) -> str:
    foreign = [h.text for h in held if not h.own]
    return " and ".join(foreign) if foreign else "something the probe cannot see (no /proc access?)"


def _stops(held: list[Holder], need: PortNeed) -> str:
    stops = [h.stop for h in held if not h.own]
    return ", ".join(stops) if stops else f"free port {need.port} on the host (`ss -ltnp` shows its holder)"
