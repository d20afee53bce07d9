"""Flags are identified the way vLLM's parser identifies them, and rendered the way the user spelled them."""

from __future__ import annotations

import pytest

from pdcompose.plan.flags import FlagLayers, argv, canonical, make_flag, same_value, tokens


@pytest.mark.parametrize(("key", "expected"), [
    ("trust_remote_code", "trust-remote-code"),
    ("--trust-remote-code", "trust-remote-code"),
    ("compilation_config.pass_config.fuse_attn_quant", "compilation-config.pass_config.fuse_attn_quant"),
    ("compilation_config.custom_ops+=", "compilation-config.custom_ops+"),
    ("max_num_seqs", "max-num-seqs"),
])
def test_canonical_names(key, expected):
    assert canonical(key) == expected


def test_no_prefix_is_the_same_flag_set_false():
    name, flag = make_flag("no-enable-prefix-caching", True, ("args",))
    assert name == "enable-prefix-caching" and flag.value is False
    assert tokens(flag) == ["--no-enable-prefix-caching"]


def test_later_layer_replaces_in_place_and_null_drops():
    layers = FlagLayers()
    layers.apply({"a": 1, "no-enable-prefix-caching": True, "trust_remote_code": True, "b": 2}, ("recipe",))
    layers.apply({"enable-prefix-caching": True, "trust-remote-code": None, "a": 3}, ("args",))
    assert argv(f for _, f in layers.items()) == ["--a", "3", "--enable-prefix-caching", "--b", "2"]


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("enforce-eager", True, ["--enforce-eager"]),
    ("enforce-eager", False, ["--no-enforce-eager"]),
    ("compilation_config.custom_ops+=", "+quant_fp8,+rms_norm",
     ["--compilation_config.custom_ops+=+quant_fp8,+rms_norm"]),
    ("kv-transfer-config", {"kv_connector": "NixlConnector", "kv_role": "kv_both"},
     ["--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_both"}']),
    ("cuda-graph-sizes", [1, 2, 4], ["--cuda-graph-sizes", "1", "2", "4"]),
    ("gpu-memory-utilization", 0.9, ["--gpu-memory-utilization", "0.9"]),
    ("compilation_config.pass_config.fuse_attn_quant", "true",
     ["--compilation_config.pass_config.fuse_attn_quant", "true"]),
    ("chat-template-kwargs", {"thinking": False, "note": "ü"},
     ["--chat-template-kwargs", '{"thinking":false,"note":"ü"}']),
])
def test_tokens(key, value, expected):
    assert tokens(make_flag(key, value, ())[1]) == expected


def test_same_value_compares_rendered_text():
    flag = make_flag("port", "8087", ())[1]
    assert same_value(flag, 8087)
    assert not same_value(flag, 8088)
    assert not same_value(make_flag("data-parallel-hybrid-lb", False, ())[1], True)
