"""Host-level faults on a lab, each undone by `heal`: what an operator's tools must survive on real hosts."""

from __future__ import annotations

from pdcompose.lab import daemons, net, sshconf, system
from pdcompose.lab.model import Lab, LabHost, require_lab

CHAIN = "PDLAB"    # the lab's own iptables chain in a host's namespace: flushed by heal, gone with the namespace


def lose(lab_name: str, name: str) -> str:
    lab = require_lab(lab_name)
    host = lab.host(name)
    net.link(host, up=False)           # first: no last word (RST, FIN) reaches anyone
    killed = daemons.kill_host(host)
    return f"{host.name} ({host.address}) lost: link down, {killed} processes killed"


def partition(lab_name: str, name: str, others: list[str]) -> str:
    lab = require_lab(lab_name)
    host = lab.host(name)
    peers = [lab.host(o) for o in others]
    _chain(host)
    for peer in peers:
        for rule in (["-A", CHAIN, "-s", peer.address, "-j", "DROP"], ["-A", CHAIN, "-d", peer.address, "-j", "DROP"]):
            system.run(["iptables", "-w", "5", *rule], host.netns)
    return f"{host.name} partitioned from {', '.join(p.name for p in peers)} (packets dropped both ways)"


def _chain(host: LabHost) -> None:
    if system.quiet(["iptables", "-w", "5", "-N", CHAIN], host.netns):
        for hook in ("INPUT", "OUTPUT"):
            system.run(["iptables", "-w", "5", "-I", hook, "-j", CHAIN], host.netns)


def stop_daemon(lab_name: str, name: str) -> str:
    host = require_lab(lab_name).host(name)
    stopped = daemons.stop_daemon(host)
    return f"{host.name}: Docker daemon {'killed' if stopped else 'was not running'}; sshd still answers"


def refuse_key(lab_name: str, name: str) -> str:
    lab = require_lab(lab_name)
    host = lab.host(name)
    daemons.authorize(lab, host, allowed=False)
    ended = daemons.end_sessions(host)    # as an administrator revoking a key would: open connections too
    return f"{host.name}: sshd refuses the lab's key from now on ({ended} open SSH sessions closed)"


def delay(lab_name: str, ms: int) -> str:
    lab = require_lab(lab_name)
    lab.ssh_delay_ms = max(0, ms)
    lab.save()
    sshconf.write_client_config(lab)
    # Multiplexed connections opened before keep their old path: close them so the delay applies now.
    _close_masters(lab)
    return f"lab '{lab.name}': SSH links delayed by {ms} ms each way" if ms else f"lab '{lab.name}': no SSH delay"


def _close_masters(lab: Lab) -> None:
    from pdcompose.engine.sshmux import close_all

    close_all([f"root@{h.address}" for h in lab.hosts])


def heal(lab_name: str, name: str | None) -> str:
    lab = require_lab(lab_name)
    hosts = [lab.host(name)] if name else lab.hosts
    done = []
    for host in hosts:
        net.link(host, up=True)
        system.quiet(["iptables", "-w", "5", "-F", CHAIN], host.netns)
        daemons.authorize(lab, host, allowed=True)
        if not daemons.running(host):
            daemons.start(lab, host)
            done.append(host)
    for host in done:
        daemons.wait_ready(host)
    restarted = f"; restarted {', '.join(h.name for h in done)}" if done else ""
    return f"healed {', '.join(h.name for h in hosts)}{restarted}"
