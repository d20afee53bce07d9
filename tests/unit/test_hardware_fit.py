"""A recipe states the hardware it was tuned on; hosts on other hardware get one warning naming the
settings that will not fit. A warning that applies to many hosts is printed once, with their names."""

from __future__ import annotations

from pdcompose import topology
from pdcompose.plan import build_plan
from tests.helpers import EXAMPLE

GUIDE = EXAMPLE.read_text()
ON_H100 = GUIDE.replace("  profile: gb200 ", "  profile: h100-ib")


def warnings_of(text: str) -> list:
    return build_plan(topology.from_text(text, "t.yaml", EXAMPLE.parent))[1]


def test_the_guide_on_its_own_hardware_has_no_warning():
    assert warnings_of(GUIDE) == []


def test_the_gb200_recipe_on_h100_names_the_settings_that_will_not_fit():
    assert ON_H100 != GUIDE
    [fit] = [w for w in warnings_of(ON_H100) if w.code == "recipe-hardware"]
    assert fit.path == "recipe" and fit.line is not None
    assert "tuned for gb200" in fit.message and "use profile h100-ib" in fit.message
    for setting in ("model:", "env.VLLM_USE_FLASHINFER_MOE_FP4:", "env.VLLM_USE_TRTLLM_RAGGED_DEEPSEEK_PREFILL:",
                    "env.VLLM_USE_NCCL_SYMM_MEM:"):
        assert setting in fit.message


def test_a_setting_the_topology_overrides_is_not_named():
    text = ON_H100.replace("hf_token:", "env: {VLLM_USE_FLASHINFER_MOE_FP4: null}\nhf_token:")
    [fit] = [w for w in warnings_of(text) if w.code == "recipe-hardware"]
    assert "VLLM_USE_FLASHINFER_MOE_FP4" not in fit.message and "VLLM_USE_NCCL_SYMM_MEM" in fit.message


def test_a_warning_for_six_hosts_is_one_warning_with_six_names():
    ucx = [w for w in warnings_of(ON_H100) if w.code == "recommended-env"]
    assert len(ucx) == 1
    assert "on 6 hosts (gb200-n0, gb200-n1, gb200-n2, gb200-n3, gb200-n4, gb200-n5)" in ucx[0].message


def test_a_group_across_hosts_without_gloo_interface_is_warned_once():
    """The lab found it: Gloo binds the address the host's name resolves to (127.0.1.1 on Debian) unless
    GLOO_SOCKET_IFNAME names the NIC. The presets set it; a bare topology gets one warning naming both groups."""
    from tests.topologies import NIXL

    bare = (f"name: g\nmodel: m\nimage: vllm/vllm-openai:v0.13.0\nargs:\n  kv-transfer-config: {NIXL}\nhosts:\n"
            + "".join(f"  {h}: {{address: 10.9.0.{i}, gpus: [0, 1]}}\n"
                      for i, h in enumerate(["p0", "p1", "d0", "d1", "r"], 1))
            + "prefill: [{nodes: [p0, p1], dp_local: 2}]\n"
            + "decode: [{nodes: [d0, d1], dp_local: 2}]\nrouter: {host: r}\n")
    [gloo] = [w for w in warnings_of(bare) if w.code == "gloo-interface"]
    assert gloo.message.startswith("decode-0, prefill-0 span(s) several hosts")
    assert "127.0.1.1" in gloo.message
    fixed = bare.replace("args:\n", 'env: {GLOO_SOCKET_IFNAME: "{interface}"}\ndefaults: {interface: eth0}\nargs:\n')
    assert not [w for w in warnings_of(fixed) if w.code == "gloo-interface"]
    assert not [w for w in warnings_of(GUIDE) if w.code == "gloo-interface"]      # the gb200 preset sets it
