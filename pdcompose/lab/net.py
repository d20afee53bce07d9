"""The lab's network: one bridge in the root namespace, one namespace per host (a veth to the bridge, the
host's address, a bridge of its own for its Docker daemon), and an operator namespace that reaches the
hosts only on port 22."""

from __future__ import annotations

from pdcompose.lab import system
from pdcompose.lab.model import Lab, LabError, LabHost

INNER_BRIDGE = "pdbr0"
NIC = "eth0"                        # every lab host's own NIC, inside its namespace
# The inner bridge's network never leaves its host's namespace; dockerd needs one to start.
INNER_BRIDGE_ADDRESS = "172.31.255.1/24"


def check_free(lab: Lab) -> None:
    """Refuse a subnet that this machine already routes (another lab, a real network)."""
    routes = system.run(["ip", "-4", "route", "show"], check=False)
    for line in routes.splitlines():
        prefix = line.split()[0] if line.split() else ""
        if prefix == lab.subnet or (prefix != "default" and _overlaps(prefix, lab.subnet)):
            raise LabError(f"subnet {lab.subnet} overlaps a route this machine has ({line.strip()}); "
                           "pick another with --subnet")


def _overlaps(prefix: str, subnet: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_network(prefix, strict=False).overlaps(ipaddress.ip_network(subnet))
    except ValueError:
        return False


def make_bridge(lab: Lab) -> None:
    system.run(["ip", "link", "add", lab.bridge, "type", "bridge"])
    system.run(["ip", "addr", "add", f"{lab.gateway}/{lab.network.prefixlen}", "dev", lab.bridge])
    system.run(["ip", "link", "set", lab.bridge, "up"])
    # Docker loads br_netfilter, so bridged frames go through the root namespace's FORWARD chain, whose
    # policy Docker sets to DROP: without this rule the lab's hosts cannot reach each other.
    system.run(["iptables", "-w", "5", "-I", "FORWARD", *_forward_rule(lab.name)])


def _forward_rule(lab_name: str) -> list[str]:
    bridge = f"pdlb-{lab_name}"
    return ["-i", bridge, "-o", bridge, "-m", "comment", "--comment", f"pdlab-{lab_name}", "-j", "ACCEPT"]


def _attach(netns: str, veth: str, address: str, lab: Lab) -> None:
    system.run(["ip", "netns", "add", netns])
    system.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", NIC, "netns", netns])
    system.run(["ip", "link", "set", veth, "master", lab.bridge, "up"])
    system.run(["ip", "addr", "add", f"{address}/{lab.network.prefixlen}", "dev", NIC], netns)
    system.run(["ip", "link", "set", NIC, "up"], netns)
    system.run(["ip", "link", "set", "lo", "up"], netns)


def make_host(lab: Lab, host: LabHost) -> None:
    _attach(host.netns, host.veth, host.address, lab)
    system.run(["ip", "link", "add", INNER_BRIDGE, "type", "bridge"], host.netns)
    system.run(["ip", "addr", "add", INNER_BRIDGE_ADDRESS, "dev", INNER_BRIDGE], host.netns)
    system.run(["ip", "link", "set", INNER_BRIDGE, "up"], host.netns)


def make_operator(lab: Lab) -> None:
    """A machine on the lab's network whose only way to the hosts is SSH: every other packet to the
    lab's subnet is rejected (so a command that tried HTTP would fail fast, not hang)."""
    _attach(lab.operator_netns, lab.operator_veth, lab.operator_address, lab)
    rules = [["-A", "OUTPUT", "-d", lab.subnet, "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
             ["-A", "OUTPUT", "-d", lab.subnet, "-p", "icmp", "-j", "ACCEPT"],
             ["-A", "OUTPUT", "-d", lab.subnet, "-j", "REJECT"]]
    for rule in rules:
        system.run(["iptables", "-w", "5", *rule], lab.operator_netns)


def link(host: LabHost, up: bool) -> None:
    """Pull (or put back) the host's cable: packets to it go nowhere, as to a host that lost power."""
    system.run(["ip", "link", "set", host.veth, "up" if up else "down"])


def remove(lab_name: str) -> list[str]:
    """Every namespace and interface of the lab, found by name (also after a crash)."""
    gone = []
    for netns in system.netns_list():
        if netns.startswith(f"pdlab-{lab_name}-"):
            system.quiet(["ip", "netns", "del", netns])   # takes its veth peer with it
            gone.append(f"netns {netns}")
    while system.quiet(["iptables", "-w", "5", "-D", "FORWARD", *_forward_rule(lab_name)]):
        gone.append("FORWARD rule")
    links = system.run(["ip", "-o", "link", "show"], check=False)
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name in (f"pdlb-{lab_name}",) or name.startswith(f"pdlv{lab_name}-"):
            system.quiet(["ip", "link", "del", name])
            gone.append(f"link {name}")
    return gone

