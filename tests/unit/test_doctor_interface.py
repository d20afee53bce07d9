"""doctor's `interface` check: the NIC `{interface}` put in the env exists on the host and carries its address;
where a DP group spans hosts without GLOO_SOCKET_IFNAME, the host's name resolves to its address (Gloo binds
it). Decisions from probe answers; the probe's new functions run on this machine."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pdcompose import topology
from pdcompose.doctor import probe
from pdcompose.doctor.needs import needs
from pdcompose.doctor.nic_check import interface_check, probe_args
from pdcompose.plan import build_plan
from pdcompose.plan.models import Plan
from tests.helpers import EXAMPLE, REPO

REAL = REPO / "examples" / "rehearsal-real.yaml"
NICS = {"lo": ["127.0.0.1", "::1"], "enp1s0f0": ["10.0.0.10"], "docker0": ["172.17.0.1"], "ib0": []}
WRONG = "enP22p3s0f1np1"      # the example's interface; these hosts call their NIC enp1s0f0


def plan_of(path: Path, *, rehearsal: bool = False, tmp: Path | None = None, extra: str = "") -> Plan:
    """`extra` YAML replaces the file's own `rehearsal:` block (its last)."""
    if extra:
        assert tmp is not None
        (tmp / "t.yaml").write_text(path.read_text().partition("\nrehearsal:\n")[0] + "\n" + extra)
        path = tmp / "t.yaml"
    plan, _ = build_plan(topology.load(path), rehearsal=rehearsal)
    return plan


@pytest.fixture(scope="module")
def guide() -> Plan:
    return plan_of(EXAMPLE)


def answer(address: str, nics: dict[str, list[str]], name_ips: list[str] | None = None) -> dict:
    found = {"addresses": {address: {"ips": [address], "error": None, "bind": {address: None}}}, "interfaces": nics}
    if name_ips is not None:
        found["hostname"] = {"name": "n", "ips": name_ips, "error": None}
    return found


def check(plan: Plan, host: str, found: dict):
    h = plan.host(host)
    return interface_check(plan, h, needs(h, plan.model), found)


def test_the_plan_knows_which_env_names_the_nic(guide: Plan) -> None:
    host = guide.host("gb200-n0")
    assert host.interface == WRONG
    n = needs(host, guide.model)
    assert n.nic_env == ["GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME"]
    assert n.gloo_by_name == []            # the gb200 preset sets GLOO_SOCKET_IFNAME
    assert probe_args(guide, host, n) == {"interfaces": [WRONG], "hostname": False}


def test_the_nic_that_carries_the_address_passes(guide: Plan) -> None:
    result = check(guide, "gb200-n0", answer("10.0.0.10", {**NICS, WRONG: ["10.0.0.10"]}))
    assert result.status == "pass" and result.detail.startswith(f"{WRONG} has 10.0.0.10 (GLOO_SOCKET_IFNAME")


def test_a_wrong_nic_name_fails_naming_the_nic_that_has_the_address(guide: Plan) -> None:
    result = check(guide, "gb200-n0", answer("10.0.0.10", NICS))
    assert result.failed
    assert f"GLOO_SOCKET_IFNAME, NCCL_SOCKET_IFNAME, NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME name {WRONG}, which " \
           "gb200-n0 does not have" in result.detail
    assert "its NICs: enp1s0f0 (10.0.0.10), docker0 (172.17.0.1), ib0 (no address)" in result.detail
    assert result.fix == "set hosts.gb200-n0.interface to enp1s0f0 (the NIC that has 10.0.0.10)"
    nowhere = check(guide, "gb200-n0", answer("10.0.0.10", {"lo": ["127.0.0.1"], "eth9": ["192.168.1.5"]}))
    assert nowhere.failed and "none has it now: see the address check" in nowhere.fix


def test_a_nic_without_the_address(guide: Plan) -> None:
    bare = check(guide, "gb200-n0", answer("10.0.0.10", {**NICS, WRONG: []}))
    assert bare.failed and f"name {WRONG}, which has no address on gb200-n0" in bare.detail
    assert "to enp1s0f0" in bare.fix
    # Another network (IPoIB beside the management NIC): works only if the hosts reach each other on it.
    other = check(guide, "gb200-n0", answer("10.0.0.10", {**NICS, WRONG: ["192.168.7.10"]}))
    assert other.status == "warn" and f"name {WRONG}, which has 192.168.7.10, not 10.0.0.10" in other.detail


def test_a_host_name_on_loopback_fails_a_dp_group_without_gloo(tmp_path: Path) -> None:
    plan = plan_of(REAL, tmp=tmp_path, extra="rehearsal: {enabled: false}\n")
    d1 = plan.host("node-d1")
    n = needs(d1, plan.model)
    assert n.gloo_by_name == ["decode-0-node-1"] and n.nic_env == []
    assert probe_args(plan, d1, n) == {"interfaces": [], "hostname": True}
    result = check(plan, "node-d1", answer("10.0.1.12", NICS, ["127.0.1.1"]))
    assert result.failed and "decode-0-node-1 span(s) hosts without GLOO_SOCKET_IFNAME: Gloo binds what 'n' " \
                             "resolves to, 127.0.1.1 (loopback)" in result.detail
    assert "GLOO_SOCKET_IFNAME: \"{interface}\"" in result.fix and "map 'n' to 10.0.1.12 in node-d1's /etc/hosts" \
        in result.fix
    assert check(plan, "node-d1", answer("10.0.1.12", NICS, ["10.0.1.12", "127.0.1.1"])).status == "pass"
    assert check(plan, "node-d1", answer("10.0.1.12", NICS, [])).failed        # does not resolve
    assert check(plan, "node-p0", answer("10.0.1.10", NICS, ["127.0.1.1"])).status == "skip"   # no DP group across


def test_gloo_set_by_interface_needs_no_host_name(tmp_path: Path) -> None:
    plan = plan_of(REAL, tmp=tmp_path, extra="rehearsal: {enabled: false}\ndefaults: {interface: eth0}\n"
                                             "env: {GLOO_SOCKET_IFNAME: \"{interface}\"}\n")
    d1 = plan.host("node-d1")
    assert needs(d1, plan.model).gloo_by_name == []
    # The name resolving to loopback no longer matters (the probe is not even asked for it): eth0 does.
    result = check(plan, "node-d1", answer("10.0.1.12", {"lo": ["127.0.0.1"], "eth0": ["10.0.1.12"]}, ["127.0.1.1"]))
    assert result.status == "pass" and result.detail == "eth0 has 10.0.1.12 (GLOO_SOCKET_IFNAME)"


def test_rehearsals(guide: Plan, tmp_path: Path) -> None:
    loopback = plan_of(EXAMPLE, rehearsal=True)
    h = loopback.host("gb200-n0")
    assert probe_args(loopback, h, needs(h, loopback.model)) == {}
    skipped = check(loopback, "gb200-n0", {})
    assert skipped.status == "skip" and skipped.detail.startswith("rehearsal: no ")
    # A lab (`rehearsal.addresses: hosts`): real hosts, each with eth0 and its own address, as `lab topology` says.
    lab = "rehearsal: {enabled: true, addresses: hosts, engine: %s}\ndefaults: {interface: eth0}\n"
    mock = plan_of(REAL, rehearsal=True, tmp=tmp_path, extra=lab % "mock")
    eth0 = {"lo": ["127.0.0.1"], "eth0": ["10.0.1.12"]}
    result = check(mock, "node-d1", answer("10.0.1.12", eth0, ["127.0.0.1"]))
    assert result.status == "skip"            # the mock forms no Gloo group, and no env names the NIC
    real = plan_of(REAL, rehearsal=True, tmp=tmp_path, extra=lab % "vllm")
    assert check(real, "node-d1", answer("10.0.1.12", eth0, ["127.0.0.1"])).failed   # the real engine does
    gloo = plan_of(REAL, rehearsal=True, tmp=tmp_path,
                   extra=lab % "vllm" + "env: {GLOO_SOCKET_IFNAME: \"{interface}\"}\n")
    assert check(gloo, "node-d1", answer("10.0.1.12", eth0, ["127.0.0.1"])).status == "pass"


def test_the_interface_stays_out_of_the_fingerprint(guide: Plan) -> None:
    bare = guide.model_copy(update={"hosts": [h.model_copy(update={"interface": None}) for h in guide.hosts]})
    from pdcompose.plan import fingerprint

    assert fingerprint(bare) == guide.fingerprint
    assert "interface" not in bare.hosts[0].model_dump() and guide.hosts[0].model_dump()["interface"] == WRONG


def test_the_probe_lists_this_machines_nics() -> None:
    nics = probe.interfaces()
    assert "127.0.0.1" in nics["lo"]
    ioctl = {name: probe._ioctl_address(name) for name in nics}
    # Two sources agree: netlink's addresses include each NIC's primary one (SIOCGIFADDR) ...
    assert all(ip in nics[name] for name, ip in ioctl.items() if ip), (nics, ioctl)
    # ... and every IPv4 address the routing table calls local (/proc/net/fib_trie) is on some NIC.
    v4 = {ip for ips in nics.values() for ip in ips if ":" not in ip}
    assert v4 == {a for a in probe.local_addresses() if ":" not in a}
    assert not any(ip.startswith("fe80:") for ips in nics.values() for ip in ips)
    missing = "pdnone0"
    assert missing not in probe.interfaces([missing]) and missing not in socket.if_nameindex()


def test_the_probe_falls_back_to_ioctl(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused() -> list:
        raise OSError("netlink refused")

    netlink = probe.interfaces()
    monkeypatch.setattr(probe, "_netlink_addresses", refused)
    fallback = probe.interfaces()
    assert fallback["lo"] == ["127.0.0.1"]
    assert all(set(ips) <= set(netlink[name]) for name, ips in fallback.items())


def test_the_probe_reports_the_host_name_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = probe.host_mode({})
    assert "interfaces" not in plain and "hostname" not in plain        # older callers: the answer they had
    asked = probe.host_mode({"interfaces": ["lo"], "hostname": True})
    assert asked["hostname"]["name"] == socket.gethostname() and "lo" in asked["interfaces"]
    assert asked["hostname"]["ips"] or asked["hostname"]["error"]
    monkeypatch.setattr(probe.socket, "gethostname", lambda: "pdcompose-no-such-host.invalid")
    unknown = probe.own_name()
    assert unknown["ips"] == [] and unknown["error"]


def test_the_runner_asks_the_probe_and_reports_the_check(guide: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    from pdcompose.doctor import container, runner

    asked: list[dict] = []

    def host_probe(host: str, context: str, image: str, args: dict, timeout: float) -> dict:
        asked.append(args)
        return answer("10.0.0.10", NICS)

    monkeypatch.setattr(container, "host_probe", host_probe)
    host = guide.host("gb200-n0")
    results = runner._probed(guide, host, needs(host, guide.model), "img", 1, ["interface", "ports"])
    assert asked[0]["interfaces"] == [WRONG] and asked[0]["hostname"] is False
    nic = next(r for r in results if r.check == "interface")
    assert nic.failed and "set hosts.gb200-n0.interface to enp1s0f0" in nic.fix
    assert "interface" in runner.FAST        # deploy checks it before it starts anything
