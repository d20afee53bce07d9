"""doctor's `interface` check, from the host probe's answer: the NIC `{interface}` put in the containers' env
(GLOO/NCCL/NVSHMEM ..._IFNAME) exists on the host and carries its address; and, where a DP group spans hosts
without GLOO_SOCKET_IFNAME, the host's name resolves to its address (Gloo then binds what the name resolves
to: 127.0.1.1 on a default Debian or Ubuntu host, and the group never forms)."""

from __future__ import annotations

from typing import Any

from pdcompose.doctor.model import CheckResult, failed, passed, skipped, warned
from pdcompose.doctor.needs import GLOO_IFNAME, Needs
from pdcompose.doctor.network_checks import is_loopback
from pdcompose.plan.models import Host, Plan

CHECK = "interface"


def probe_args(plan: Plan, host: Host, n: Needs) -> dict[str, Any]:
    """What the host probe must report for this check (nothing when it has nothing to decide)."""
    if _loopback_rehearsal(plan, host):
        return {}
    return {"interfaces": [host.interface] if n.nic_env and host.interface else [],
            "hostname": bool(n.gloo_by_name) and _forms_gloo_groups(plan)}


def interface_check(plan: Plan, host: Host, n: Needs, found: dict[str, Any]) -> CheckResult:
    if _loopback_rehearsal(plan, host):
        return skipped(host.name, CHECK, "rehearsal: no real NICs or host names (every host is a loopback address "
                                         "of this machine)")
    by_name = bool(n.gloo_by_name) and _forms_gloo_groups(plan)
    if not n.nic_env and not by_name:
        return skipped(host.name, CHECK, "no env names a NIC ({interface}), and no DP group across hosts relies "
                                         "on the host's name")
    own = {host.address, *found.get("addresses", {}).get(host.address, {}).get("ips", [])}
    nics: dict[str, list[str]] = found.get("interfaces", {})
    carrier = next((nic for nic, ips in nics.items() if own & set(ips) and nic != "lo"), None)
    parts = ([_nic(host, n, nics, own, carrier)] if n.nic_env else []) + \
        ([_name(host, n, found.get("hostname", {}), own, carrier)] if by_name else [])
    worst = next((s for s in ("fail", "warn") if any(p[0] == s for p in parts)), "pass")
    detail = "; ".join(p[1] for p in parts if p[0] == worst)
    if worst == "pass":
        return passed(host.name, CHECK, detail)
    fix = "; ".join(p[2] for p in parts if p[0] == worst)
    return failed(host.name, CHECK, detail, fix) if worst == "fail" else warned(host.name, CHECK, detail, fix)


def _nic(host: Host, n: Needs, nics: dict[str, list[str]], own: set[str], carrier: str | None) -> tuple[str, str, str]:
    name, env = host.interface, ", ".join(n.nic_env)
    fix = (f"set hosts.{host.name}.interface to {carrier} (the NIC that has {host.address})" if carrier else
           f"set hosts.{host.name}.interface to the NIC that has {host.address} (none has it now: see the address "
           "check)")
    if name not in nics:
        return "fail", (f"{env} name {name}, which {host.name} does not have (Gloo/NCCL would fail at start); "
                        f"its NICs: {_listed(nics, host.address)}"), fix
    if not nics[name]:
        return "fail", f"{env} name {name}, which has no address on {host.name} (Gloo/NCCL would fail at start)", fix
    if not own & set(nics[name]):
        return "warn", (f"{env} name {name}, which has {', '.join(nics[name])}, not {host.address}: the DP group and "
                        f"NCCL's bootstrap go over that network, which every host must reach"), fix
    return "pass", f"{name} has {host.address} ({env})", ""


def _name(host: Host, n: Needs, answer: dict[str, Any], own: set[str], carrier: str | None) -> tuple[str, str, str]:
    name, ips = answer.get("name", "?"), answer.get("ips", [])
    why = f"{', '.join(n.gloo_by_name)} span(s) hosts without {GLOO_IFNAME}: Gloo binds what '{name}' resolves to"
    nic = carrier or f"the NIC of {host.address}"
    fix = (f"set env.{GLOO_IFNAME}: \"{{interface}}\" and hosts.{host.name}.interface (or defaults.interface) to "
           f"{nic}, or map '{name}' to {host.address} in {host.name}'s /etc/hosts")
    if not ips:
        return "fail", f"{why}, and it does not resolve ({answer.get('error') or 'not probed'})", fix
    if is_loopback(ips[0]):
        return "fail", f"{why}, {ips[0]} (loopback): other hosts cannot join the DP group", fix
    if ips[0] not in own:
        return "warn", f"{why}, {ips[0]}, not {host.address}: the DP group goes over that network", fix
    return "pass", f"'{name}' resolves to {ips[0]} (what Gloo binds for {', '.join(n.gloo_by_name)})", ""


def _listed(nics: dict[str, list[str]], address: str) -> str:
    """eth0 (10.0.0.10), docker0 (172.17.0.1), ib0 (no address): IPv4 only, unless the host's address is IPv6."""
    def shown(ips: list[str]) -> str:
        kept = [ip for ip in ips if (":" in ip) == (":" in address)]
        return ", ".join(kept) or "no address"
    return ", ".join(f"{nic} ({shown(ips)})" for nic, ips in nics.items() if nic != "lo") or "none"


def _loopback_rehearsal(plan: Plan, host: Host) -> bool:
    """A rehearsal on this machine: the env names the real hosts' NIC. A lab's hosts keep real addresses."""
    return plan.rehearsal and is_loopback(host.address)


def _forms_gloo_groups(plan: Plan) -> bool:
    """The mock engine forms no Gloo group; a real plan, and a real-engine rehearsal (it states substitutions),
    do."""
    return not plan.rehearsal or bool(plan.substitutions)
