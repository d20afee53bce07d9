"""Planner behaviour beyond the guide: co-location, explicit GPUs, redundancy, rehearsal, lint."""

from __future__ import annotations

import pytest

from pdcompose import topology
from pdcompose.errors import TopologyError
from pdcompose.plan import build_plan
from tests.helpers import EXAMPLE, REPO

BASE = (REPO / "tests" / "bad" / "conflicting-port-arg.yaml").read_text().split("\n", 2)[2].replace(
    "  port: 9000\n", "")


def plan_of(text: str, rehearsal: bool | None = None):
    return build_plan(topology.from_text(text, "t.yaml"), rehearsal=rehearsal)


def test_base_is_valid():
    plan, warnings = plan_of(BASE)
    assert [c.service for _, c in plan.containers()] == ["prefill-0-node-0", "decode-0-node-0", "router"]


def test_redundant_derived_flag_is_accepted_and_not_repeated():
    plan, _ = plan_of(BASE.replace("args:\n", "args:\n  port: 8087\n  tensor-parallel-size: 1\n"))
    cmd = plan.host("a").containers[0].command
    assert cmd.count("--port") == 1 and cmd.count("--tensor-parallel-size") == 1


def test_the_reserved_flag_check_returns_what_to_drop_and_leaves_the_flags_alone():
    """A check reports; the planner drops the redundant flags (plan/vllm.py, where it calls the check)."""
    from pdcompose.plan import flags as F
    from pdcompose.plan.findings import Findings
    from pdcompose.plan.vllm import _check_reserved
    from pdcompose.topology.source import Source

    flags = F.FlagLayers()
    flags.apply({"port": 8087, "tensor-parallel-size": 4, "max-model-len": 4096}, ("prefill", "args"))
    derived = {k: F.Flag(k, v, False, ("derived",)) for k, v in {"port": 8087, "tensor-parallel-size": 1}.items()}
    findings = Findings(Source("t.yaml", {}))
    assert _check_reserved(flags, derived, findings) == ["port"]
    assert [name for name, _ in flags.items()] == ["port", "tensor-parallel-size", "max-model-len"]
    assert [i.code for i in findings.issues] == ["conflicting-arg"]
    assert "pdcompose derives --tensor-parallel-size 1 here" in findings.issues[0].message


def test_single_node_dp_renders_no_multi_node_flags():
    plan, _ = plan_of(BASE)
    cmd = plan.host("a").containers[0].command
    assert cmd[cmd.index("--data-parallel-size") + 1] == "2"
    assert "--data-parallel-address" not in cmd and "--data-parallel-hybrid-lb" not in cmd


def test_tp_spanning_all_gpus_has_no_dp_flags():
    plan, _ = plan_of(BASE.replace("prefill: [{nodes: [a]}]", "prefill: [{nodes: [a], tp: 2}]")
                      .replace("decode: [{nodes: [b]}]", "decode: [{nodes: [b], tp: 2}]"))
    cmd = plan.host("a").containers[0].command
    assert "--data-parallel-size" not in cmd and cmd[cmd.index("--tensor-parallel-size") + 1] == "2"


def test_explicit_gpus_and_colocation_get_the_next_ports():
    text = BASE.replace("prefill: [{nodes: [a]}]", "prefill: [{nodes: [{host: a, gpus: [1]}], dp_local: 1}]") \
               .replace("decode: [{nodes: [b]}]", "decode: [{nodes: [{host: a, gpus: [0]}], dp_local: 1}]")
    plan, _ = plan_of(text)
    prefill, decode = plan.host("a").containers
    assert prefill.gpus == ["1"] and decode.gpus == ["0"]
    assert (prefill.ports[0].port, decode.ports[0].port) == (8087, 8088)
    assert decode.env["VLLM_NIXL_SIDE_CHANNEL_PORT"] == "5601"


def test_served_model_name_is_what_v1_models_will_list():
    plan, _ = plan_of(BASE.replace("args:\n", "args:\n  served-model-name: mine\n"))
    assert plan.served_model_name == "mine" and plan.model == "org/model"


@pytest.mark.parametrize("arg", ["served_model_name: mine", "--served_model_name: mine", "--served-model-name: mine",
                                 "served-model-name: [mine, other]", "served_model_name: [mine]",
                                 '"served-model-name=": mine'])
def test_served_model_name_in_any_spelling_vllm_accepts(arg):
    # vLLM's parser reads all of these as --served-model-name; the health gate waits for that name
    plan, _ = plan_of(BASE.replace("args:\n", f"args:\n  {arg}\n"))
    assert plan.served_model_name == "mine"


def test_rehearsal_substitutes_images_addresses_and_hardware_only():
    real, _ = build_plan(topology.load(EXAMPLE))
    fake, _ = build_plan(topology.load(EXAMPLE), rehearsal=True)
    assert fake.rehearsal and [h.address for h in fake.hosts] == [f"127.0.0.{10 + i}" for i in range(7)]
    assert [h.context for h in fake.hosts] == [f"rehearsal-dsr1-gb200-gb200-n{i}" for i in range(7)]
    for (_, rc), (_, fc) in zip(real.containers(), fake.containers(), strict=True):
        assert fc.image.startswith("pdcompose/") and fc.pull_policy == "never"
        assert fc.devices == [] and fc.gpu_driver is None and "memlock" not in fc.ulimits
        swap = dict(zip([h.address for h in real.hosts], [h.address for h in fake.hosts], strict=True))
        expected = [swap.get(a, a) if not a.startswith("http") else _swap_url(a, swap) for a in rc.command]
        if fc.role in ("prefill", "decode"):
            assert fc.command == expected        # --host included: the real plan binds its address too
            assert {k: v for k, v in fc.env.items() if not k.startswith("PDCOMPOSE_MOCK")} == \
                   {k: swap.get(v, v) if isinstance(v, str) else v for k, v in rc.env.items()}
        assert fc.gpus == rc.gpus  # still planned (and shown), just not reserved


def _swap_url(url: str, swap: dict[str, str]) -> str:
    for old, new in swap.items():
        url = url.replace(f"//{old}:", f"//{new}:")
    return url


def test_warnings_do_not_block_a_plan():
    text = BASE.replace("b: {address: 10.0.0.2, gpus: [0, 1]}", "b: {address: 10.0.0.2, gpus: [0, 1, 2, 3]}")
    text = text.replace("prefill: [{nodes: [a]}]", "prefill: [{nodes: [a], tp: 2}]").replace(
        "decode: [{nodes: [b]}]", "decode: [{nodes: [b], tp: 2}]")
    text = text.replace("args:\n", "args:\n  disable-log-requests: true\n")
    plan, warnings = plan_of(text)
    # 0.13.0 deprecates --disable-log-requests; mixed engines per node are fine for the default router
    assert sorted(w.code for w in warnings) == ["deprecated-flag"]
    assert plan.router.prefill_urls == ["http://10.0.0.1:8087"]
    # prefill runs 1 engine per node while decode runs 2: a router before 0.1.17 takes one count for all
    _, warnings = plan_of(text.replace("router: {host: r}", "router: {host: r, image: my/vllm-router:0.1.9}"))
    assert sorted(w.code for w in warnings) == ["deprecated-flag", "router-dp-size"]


def test_errors_carry_every_issue():
    text = BASE.replace("router: {host: r}", "router: {host: a, port: 8087, prometheus_port: 5600}")
    with pytest.raises(TopologyError) as info:
        plan_of(text)
    codes = sorted(i.code for i in info.value.issues)
    assert codes == ["port-collision", "port-collision"]


def real_side_channel_ports(c) -> set[int]:
    """Where vLLM's NixlConnector listens: VLLM_NIXL_SIDE_CHANNEL_PORT + each engine's GLOBAL DP rank."""
    base = int(c.env["VLLM_NIXL_SIDE_CHANNEL_PORT"])
    return {base + rank for rank in (c.dp.ranks if c.dp else range(1))}


def planned_side_channel_ports(c) -> set[int]:
    use = next(u for u in c.ports if u.purpose == "NIXL side channel")
    return set(range(use.port, use.port + use.count))


def test_side_channel_ports_are_base_plus_the_global_dp_rank():
    plan, _ = build_plan(topology.load(EXAMPLE))
    for _, c in plan.workers():       # the guide: every node sets 5600; a worker node listens on 5604-5607
        assert c.env["VLLM_NIXL_SIDE_CHANNEL_PORT"] == "5600"
        assert planned_side_channel_ports(c) == real_side_channel_ports(c)
    node1 = plan.host("gb200-n1").containers[0]
    assert planned_side_channel_ports(node1) == {5604, 5605, 5606, 5607}


@pytest.mark.parametrize("path", [REPO / "tests/golden/h100-colocated/topology.yaml", None])
def test_colocated_containers_never_share_a_real_side_channel_port(path):
    # None: a host running node 1 of a prefill (global rank 1) and a decode's node 0 (rank 0)
    text = path.read_text() if path else BASE.replace(
        "prefill: [{nodes: [a]}]", "prefill: [{nodes: [{host: b, gpus: [0]}, {host: a, gpus: [0]}], dp_local: 1}]"
    ).replace("decode: [{nodes: [b]}]", "decode: [{nodes: [{host: a, gpus: [1]}, {host: b, gpus: [1]}], dp_local: 1}]")
    plan, _ = plan_of(text)
    for host in plan.hosts:
        seen: set[int] = set()
        for c in host.containers:
            if c.role not in ("prefill", "decode"):
                continue
            real = real_side_channel_ports(c)
            assert planned_side_channel_ports(c) == real, c.service
            assert not real & seen, f"{host.name}: {c.service} listens on {sorted(real & seen)} twice"
            seen |= real


def test_explicit_nixl_port_colliding_on_the_real_range_is_an_error():
    text = BASE.replace(
        "prefill: [{nodes: [a]}]",
        "prefill: [{nodes: [{host: b, gpus: [0]}, {host: a, gpus: [0]}], dp_local: 1, nixl_port: 5600}]"
    ).replace("decode: [{nodes: [b]}]", "decode: [{nodes: [{host: a, gpus: [1]}], dp_local: 1, nixl_port: 5601}]")
    with pytest.raises(TopologyError) as info:
        plan_of(text)
    [issue] = [i for i in info.value.issues if i.code == "port-collision"]
    assert "port 5601 on host 'a' is taken twice: by decode-0-node-0 (NIXL side channel) and by " \
           "prefill-0-node-1 (NIXL side channel)" in issue.message
    assert "global data-parallel rank" in issue.message


@pytest.mark.parametrize("rehearsal", [False, True])
def test_router_metrics_bind_the_router_hosts_address(rehearsal):
    # vllm-router 0.1.17 binds --prometheus-host 127.0.0.1 by default: no other host could scrape it
    plan, _ = plan_of(BASE, rehearsal=rehearsal)
    host = plan.host("r")
    router = host.containers[0]
    assert router.command[router.command.index("--prometheus-host") + 1] == host.address
    assert host.address == ("127.0.0.12" if rehearsal else "10.0.0.3")
    [metrics] = [u for u in router.ports if u.purpose == "router metrics"]
    assert (metrics.port, metrics.bind) == (29000, host.address)


def test_prometheus_host_in_router_args_is_a_conflict():
    with pytest.raises(TopologyError) as info:
        plan_of(BASE.replace("router: {host: r}", "router: {host: r, args: {prometheus_host: 0.0.0.0}}"))
    assert [i.code for i in info.value.issues] == ["conflicting-arg"]


GDRDRV = "/dev/gdrdrv:/dev/gdrdrv"


def test_no_profile_sets_nvidia_gdrcopy_the_toolkit_ignores():
    # The NVIDIA Container Toolkit acts only on NVIDIA_GDRCOPY=enabled, and only under its runtime: "1" did nothing
    for path in (EXAMPLE, REPO / "tests/golden/h100-colocated/topology.yaml"):
        plan, _ = build_plan(topology.load(path))
        for _, c in plan.workers():
            assert "NVIDIA_GDRCOPY" not in c.env and GDRDRV not in c.devices


def test_gdrcopy_maps_dev_gdrdrv_into_the_vllm_containers_of_that_host():
    text = BASE.replace("b: {address: 10.0.0.2, gpus: [0, 1]}", "b: {address: 10.0.0.2, gpus: [0, 1], gdrcopy: true}")
    plan, _ = plan_of(text)
    assert GDRDRV in plan.host("b").containers[0].devices
    assert GDRDRV not in plan.host("a").containers[0].devices
    rehearsed, _ = plan_of(text, rehearsal=True)
    assert all(c.devices == [] for _, c in rehearsed.containers())          # no hardware in a rehearsal


def test_gdrcopy_default_and_a_host_opting_out():
    text = BASE.replace("hosts:\n", "defaults: {gdrcopy: true}\nhosts:\n").replace(
        "a: {address: 10.0.0.1, gpus: [0, 1]}", "a: {address: 10.0.0.1, gpus: [0, 1], gdrcopy: false}")
    plan, _ = plan_of(text)
    assert GDRDRV in plan.host("b").containers[0].devices
    assert GDRDRV not in plan.host("a").containers[0].devices
    assert plan.host("r").containers[0].devices == []                      # the router needs no GPU device
    with pytest.raises(TopologyError):
        plan_of(BASE.replace("hosts:\n", "defaults: {gdrcopy: \"1\"}\nhosts:\n"))   # a bool, not a string
