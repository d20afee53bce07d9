"""`firewall: {enabled: true}`: per-host nftables rules in the bundle. Their text is checked by this machine's
`nft -c`, and their effect in real network namespaces: a host's closed ports answer a cluster address and
refuse an outside one, its entry port answers both."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from pdcompose import topology
from pdcompose.plan import build_plan
from pdcompose.plan.firewall import closed_ports, drift, rulesets, table_name
from pdcompose.render import render_files
from tests.conftest import skip_or_fail
from tests.topologies import pd_topology

FIREWALL = "firewall: {enabled: true, allow: [192.0.2.7]}\n"


def plan_of(extra: str = FIREWALL, rehearsal: bool = False):
    yaml = pd_topology("h21f", first="127.0.121.20", enabled=False, image="vllm/vllm-openai:v0.13.0", extra=extra)
    return build_plan(topology.from_text(yaml, "t.yaml"), rehearsal=rehearsal)[0]


def test_rules_close_every_planned_port_but_the_entry():
    plan = plan_of()
    p, r = plan.host("p"), plan.host("r")
    assert closed_ports(plan, p) == ["8087", "5600"]
    assert closed_ports(plan, r) == ["29000"]                       # the router's 8123 is the entry
    rules = rulesets(plan)["p"]
    assert "elements = { 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7 }" in rules
    assert "tcp dport { 8087, 5600 } counter drop" in rules and table_name(plan) == "pdcompose_h21f"


def test_no_firewall_no_rules_and_no_change_to_the_plan():
    plan = plan_of("")
    assert plan.firewall is None and rulesets(plan) == {} and "firewall" not in plan.model_dump(mode="json")
    assert not [f for f in render_files(plan) if f.endswith("firewall.nft")]


@pytest.mark.skipif(shutil.which("nft") is None, reason="no nft here")
def test_nft_accepts_the_rendered_rules():
    for name, rules in rulesets(plan_of()).items():
        done = subprocess.run(["nft", "-c", "-f", "-"], input=rules, capture_output=True, text=True, check=False)
        assert done.returncode == 0, (name, done.stderr)


def test_drift_reads_what_nft_lists():
    plan = plan_of()
    p = plan.host("p")
    listed = ("table inet pdcompose_h21f {\n\tset cluster4 {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, "
              "10.0.0.2, 10.0.0.3,\n\t\t\t     192.0.2.7 }\n\t}\n\tchain input {\n\t\ttcp dport { 5600, 8087 } "
              "counter packets 3 bytes 180 drop comment \"pdcompose: cluster only\"\n\t}\n}\n")
    assert drift(plan, p, listed) == []
    assert drift(plan, p, listed.replace("5600, ", "")) == ["port 5600 is open to everyone, but should be cluster only"]
    assert drift(plan, p, None) == ["the firewall is not applied (pdcompose firewall apply)"]


def _netns_ready() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [t for t in ("ip", "nft", "nsenter") if shutil.which(t) is None]
    return f"missing: {', '.join(missing)}" if missing else None


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def _connects(ns: str, source: str, address: str, port: int) -> bool:
    probe = (f"import socket; s = socket.socket(); s.settimeout(1); s.bind(('{source}', 0)); "
             f"s.connect(('{address}', {port})); s.close()")
    return subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", probe], capture_output=True,
                          timeout=30).returncode == 0


def test_the_rules_keep_outsiders_off_and_let_the_cluster_in():
    """Host p (198.19.21.1) with the rules, in its own namespace, wired (one veth pair, no bridge) to a
    second namespace that holds both a cluster peer's address (198.19.21.2 = host d) and an outsider's
    (198.19.21.9, in no topology): each connection picks its source address."""
    reason = _netns_ready()
    if reason:
        skip_or_fail(f"the firewall is NOT checked in a network namespace: {reason}")
    yaml = pd_topology("h21f", first="127.0.121.20", enabled=False, image="vllm/vllm-openai:v0.13.0",
                       network="198.19.21", extra="firewall: {enabled: true}\n")      # p .1, d .2, r .3
    plan = build_plan(topology.from_text(yaml, "t.yaml"))[0]
    rules = rulesets(plan)["p"]
    tag = uuid.uuid4().hex[:4]
    host, other = f"h21fw-p-{tag}", f"h21fw-o-{tag}"
    p, d, x = "198.19.21.1", "198.19.21.2", "198.19.21.9"
    listeners = []

    def nft(*args: str, rules: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", host, "nft", *args], input=rules, text=True,
                              capture_output=True, timeout=30)

    try:
        _sh("ip", "netns", "add", host)
        _sh("ip", "netns", "add", other)
        _sh("ip", "link", "add", f"h21p{tag}", "netns", host, "type", "veth", "peer", "name", f"h21o{tag}",
            "netns", other)
        _sh("ip", "-n", host, "addr", "add", f"{p}/24", "dev", f"h21p{tag}")
        for a in (d, x):
            _sh("ip", "-n", other, "addr", "add", f"{a}/24", "dev", f"h21o{tag}")
        for ns, dev in ((host, f"h21p{tag}"), (other, f"h21o{tag}")):
            _sh("ip", "-n", ns, "link", "set", dev, "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        for port in (8087, 5600, 8123):                 # p's API, NIXL side channel, and a port not planned on p
            listeners.append(subprocess.Popen(["ip", "netns", "exec", host, "python3", "-c", (
                f"import socket,time; s=socket.socket(); s.bind(('{p}', {port})); s.listen(8); time.sleep(60)")]))
        for port in (8087, 5600, 8123):
            assert _wait(lambda port=port: _connects(other, x, p, port)), port      # open to all before
        done = nft("-f", "-", rules=rules)
        assert done.returncode == 0, done.stderr
        assert not _connects(other, x, p, 8087) and not _connects(other, x, p, 5600)
        assert _connects(other, x, p, 8123)                      # not a port the plan opens on p: left alone
        assert _connects(other, d, p, 8087) and _connects(other, d, p, 5600)     # the cluster still reaches them
        again = nft("-f", "-", rules=rules)
        assert again.returncode == 0, again.stderr                # applying twice replaces, never stacks
        listed = nft("list", "table", "inet", table_name(plan)).stdout
        assert drift(plan, plan.host("p"), listed) == [] and listed.count("chain input") == 1
        assert nft("delete", "table", "inet", table_name(plan)).returncode == 0
        assert _connects(other, x, p, 8087)
    finally:
        for proc in listeners:
            proc.kill()
        for ns in (host, other):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def _wait(check, tries: int = 30) -> bool:  # noqa: ANN001
    import time

    for _ in range(tries):
        if check():
            return True
        time.sleep(0.1)
    return False



def test_doctor_checks_the_live_rules_only_when_the_plan_has_a_firewall(monkeypatch: pytest.MonkeyPatch):
    from pdcompose.doctor.firewall_check import firewall_check
    from pdcompose.engine import firewall

    plan = plan_of()
    p = plan.host("p")
    monkeypatch.setattr(firewall, "live", lambda host, table: None)
    result = firewall_check(plan, p)
    assert (result.status, result.fix) == ("warn", "pdcompose firewall apply")
    monkeypatch.setattr(firewall, "live", lambda host, table: rulesets(plan)["p"])   # nft lists what it loaded
    assert firewall_check(plan, p).status == "pass"
    rehearsed = plan_of(rehearsal=True)
    assert firewall_check(rehearsed, rehearsed.host("p")).status == "skip"
