"""The catalog as judge: versions, adaptations, warnings and the one merged --compilation-config.

Errors are covered file by file in tests/bad/vllm-*.yaml (exit 2, line, nothing written); the real
parser's verdict on every rendered argv is in tests/vllm/.
"""

from __future__ import annotations

import json

import pytest

from pdcompose import catalog as C
from pdcompose import topology
from pdcompose.plan import build_plan
from pdcompose.plan import flags as F
from tests.helpers import EXAMPLE, REPO

BASE = (REPO / "tests" / "bad" / "vllm-flag-typo.yaml").read_text().replace("  gpu-memory-utilisation: 0.9\n", "")


def plan_of(text: str, rehearsal: bool | None = None):
    return build_plan(topology.from_text(text, "t.yaml"), rehearsal=rehearsal)


def messages(warnings) -> list[str]:
    return [w.message for w in warnings]


def test_catalogs_cover_the_guide_the_old_pin_and_the_newest_cpu_release():
    assert {"0.11.2", "0.13.0", "0.32.0", "0.33.0"} <= set(C.versions())
    for version in C.versions():
        cat = C.load(version)
        assert cat.vllm == version and len(cat.flags) > 150 and "KVTransferConfig" in cat.configs


@pytest.mark.parametrize(("image", "version"), [
    ("vllm/vllm-openai:v0.13.0", "0.13.0"), ("registry.local:5000/vllm/vllm-openai:v0.32.0", "0.32.0"),
    ("vllm/vllm-openai:v0.13.0-aarch64", "0.13.0"), ("vllm/vllm-openai:latest", None),
    ("pdcompose/mock-vllm:0.1.0", None), ("myorg/server:v1.2.3", None), ("vllm/vllm-openai", None)])
def test_version_from_the_image_tag(image, version):
    assert C.image_version(image) == version


def test_an_uncatalogued_version_is_judged_by_the_nearest_older_catalog_and_says_so():
    plan, warnings = plan_of(BASE.replace("v0.13.0", "v0.20.0"))
    assert {c.vllm_version for _, c in plan.workers()} == {"0.13.0"}
    assert any("vLLM 0.20.0 has no catalog: flags are checked against vLLM 0.13.0's" in m for m in messages(warnings))


def test_vllm_version_names_the_release_of_a_custom_image():
    text = BASE.replace("image: vllm/vllm-openai:v0.13.0", "image: myorg/inference:2024-11\nvllm_version: 0.32.0")
    plan, warnings = plan_of(text)
    assert {c.vllm_version for _, c in plan.workers()} == {"0.32.0"}
    assert not [m for m in messages(warnings) if "no catalog" in m or "unknown" in m]


def test_an_image_without_a_version_warns_and_is_judged_by_the_guides_release():
    plan, warnings = plan_of(BASE.replace("vllm/vllm-openai:v0.13.0", "myorg/inference:latest"))
    assert {c.vllm_version for _, c in plan.workers()} == {C.DEFAULT_VERSION}
    assert any("the vLLM version is unknown" in m and "set `vllm_version:`" in m for m in messages(warnings))


def test_a_rehearsal_is_judged_by_the_pinned_vllm_not_by_the_mock_image():
    plan, _ = build_plan(topology.load(EXAMPLE.with_name("deepseek-r1-gb200.yaml")), rehearsal=True)
    assert {c.vllm_version for _, c in plan.workers()} == {"0.13.0"}
    assert all(c.image.startswith("pdcompose/mock-vllm:") for _, c in plan.workers())


def test_the_guide_on_0_32_drops_swap_space_and_states_it():
    text = EXAMPLE.read_text().replace("vllm/vllm-openai:v0.13.0", "vllm/vllm-openai:v0.32.0")
    plan, warnings = build_plan(topology.from_text(text, "g.yaml", EXAMPLE.parent))
    assert all("--swap-space" not in c.command for _, c in plan.workers())
    assert plan.adaptations == ["--swap-space dropped: vLLM 0.32.0 removed it (last in vLLM 0.13.0), "
                                "for vllm/vllm-openai:v0.32.0"]
    adapted = [w for w in warnings if w.code == "vllm-adapted"]
    recipe_line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("recipe:"))) + 1
    assert adapted and adapted[0].line == recipe_line  # the setting is the recipe's: point at `recipe:`
    # what 0.32.0 no longer reads is said too: the guide's env would be silently ignored
    assert any("reads no variable VLLM_NIXL_ABORT_REQUEST_TIMEOUT" in m for m in messages(warnings))


def test_the_guide_on_0_13_needs_no_adaptation():
    plan, warnings = build_plan(topology.load(EXAMPLE))
    assert plan.adaptations == []
    assert not [w for w in warnings if w.code in ("vllm-adapted", "unknown-vllm-env", "vllm-version")]


def test_a_users_flag_that_the_version_removed_is_an_error_not_an_adaptation():
    from pdcompose.errors import TopologyError

    with pytest.raises(TopologyError) as err:
        plan_of(BASE.replace("v0.13.0", "v0.32.0").replace("hosts:", "  swap-space: 4\nhosts:", 1))
    assert any("has no --swap-space" in i.message for i in err.value.issues)


def test_deprecated_flags_and_unknown_vllm_variables_are_warnings():
    text = BASE.replace("hosts:", "  disable-log-requests: true\nenv:\n  VLLM_LOGING_LEVEL: DEBUG\nhosts:", 1)
    _, warnings = plan_of(text)
    found = messages(warnings)
    assert any("--disable-log-requests is deprecated in vLLM 0.13.0" in m for m in found)
    assert any("reads no variable VLLM_LOGING_LEVEL. Did you mean VLLM_LOGGING_LEVEL?" in m for m in found)


def test_negated_booleans_numbers_as_text_and_lists_are_accepted_as_vllm_accepts_them():
    text = BASE.replace("hosts:", "  no-enable-prefix-caching: true\n  max-model-len: 32k\n  block-size: 16\n"
                                  "  served-model-name: [a, b]\n  gpu-memory-utilization: '0.85'\nhosts:", 1)
    plan, _ = plan_of(text)
    cmd = plan.host("a").containers[0].command
    assert "--no-enable-prefix-caching" in cmd and cmd[cmd.index("--max-model-len") + 1] == "32k"


def compilation(cmd: list[str]) -> dict:
    assert cmd.count("--compilation-config") == 1
    assert not [t for t in cmd if t.startswith("--compilation_config")]
    return json.loads(cmd[cmd.index("--compilation-config") + 1])


def test_dotted_compilation_flags_and_a_json_one_become_one_value_with_every_key():
    text = BASE.replace("hosts:", "  compilation_config.custom_ops+=: +rms_norm,+quant_fp8\n"
                                  "  compilation_config.pass_config.fuse_attn_quant: 'true'\nhosts:", 1)
    text = text.replace("decode: [{nodes: [b]}]", "decode: [{nodes: [b], args: {compilation-config: "
                                                  "{cudagraph_mode: FULL_DECODE_ONLY}}}]")
    plan, _ = plan_of(text)
    assert compilation(plan.host("a").containers[0].command) == {
        "custom_ops": ["+rms_norm", "+quant_fp8"], "pass_config": {"fuse_attn_quant": True}}
    assert compilation(plan.host("b").containers[0].command) == {
        "cudagraph_mode": "FULL_DECODE_ONLY", "custom_ops": ["+rms_norm", "+quant_fp8"],
        "pass_config": {"fuse_attn_quant": True}}


def test_merge_appends_lists_like_vllm_and_keeps_the_first_flags_place():
    layers = F.FlagLayers()
    layers.apply({"max-num-seqs": 8, "compilation_config.custom_ops+": "+a", "enforce-eager": True,
                  "compilation-config": {"custom_ops": ["+z"], "level": 3}}, ("args",))
    layers.apply({"compilation_config.splitting_ops+=": "x,y"}, ("decode", "args"))
    assert F.merge_dotted(layers) == []
    names = [name for name, _ in layers.items()]
    assert names == ["max-num-seqs", "compilation-config", "enforce-eager"]
    assert layers.get("compilation-config").value == {"custom_ops": ["+z", "+a"], "level": 3,
                                                      "splitting_ops": ["x", "y"]}


def test_a_config_given_as_json_text_is_judged_and_merged_too():
    text = BASE.replace("hosts:", "  compilation-config: '{\"cudagraph_mode\": \"PIECEWISE\"}'\n"
                                  "  compilation_config.pass_config.fuse_attn_quant: true\nhosts:", 1)
    plan, _ = plan_of(text)
    assert compilation(plan.host("a").containers[0].command) == {
        "cudagraph_mode": "PIECEWISE", "pass_config": {"fuse_attn_quant": True}}
