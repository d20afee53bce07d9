"""Every rendered `vllm serve` argv, parsed by the real parser of the vLLM release its bundle pins.

The bundles: the example (the guide, v0.13.0), the example pinned to v0.32.0 (the recipe adapted), its
rehearsal, both recipes (kimi-overrides pins 0.32.0), and the H100 profile (h100-colocated). Each argv
must parse, use no abbreviated option, keep every key of its JSON configs (read back from vLLM's parsed
config objects) and carry the data-parallel layout the plan derived.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.figures import LINES
from tests.helpers import EXAMPLE, REPO, run_cli
from tests.vllm.conftest import parse_with_vllm

pytestmark = pytest.mark.vllm

GOLDEN = REPO / "tests" / "golden"


def _render(topology: Path, out: Path, *extra: str) -> dict:
    result = run_cli("render", topology, "-o", out, *extra)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "plan.json").read_text())


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("bundles")
    pinned_032 = tmp / "guide-0.32.0.yaml"
    pinned_032.write_text(EXAMPLE.read_text().replace("vllm/vllm-openai:v0.13.0", "vllm/vllm-openai:v0.32.0"))
    cases = {"guide": (EXAMPLE, ()), "guide-rehearsal": (EXAMPLE, ("--rehearsal",)),
             "guide-0.32.0": (pinned_032, ()),
             "h100-colocated": (GOLDEN / "h100-colocated" / "topology.yaml", ()),
             "kimi-overrides": (GOLDEN / "kimi-overrides" / "topology.yaml", ())}
    return {name: _render(topology, tmp / name, *extra) for name, (topology, extra) in cases.items()}


def _nodes(bundles: dict[str, dict]) -> dict[str, list[tuple[str, dict]]]:
    by_version: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, plan in bundles.items():
        for host in plan["hosts"]:
            for c in host["containers"]:
                if c["role"] in ("prefill", "decode"):      # not the router, nor a group watchdog
                    assert c["vllm_version"], f"{name}/{c['service']}: no vLLM version judged it"
                    by_version[c["vllm_version"]].append((f"{name}/{c['service']}", c))
    return by_version


def _expected_settings(c: dict) -> dict:
    flags = c["command"]
    dp = c["dp"]
    want = {"tensor_parallel_size": c["tp"], "port": int(flags[flags.index("--port") + 1]), "model_tag": flags[0]}
    if dp:
        want |= {"data_parallel_size": dp["size"], "data_parallel_size_local": dp["local"],
                 "data_parallel_rpc_port": dp["rpc_port"]}
        if dp["nodes"] > 1:
            want |= {"data_parallel_address": dp["address"], "data_parallel_hybrid_lb": True,
                     "data_parallel_start_rank": dp["start_rank"] or None}
    return want


def _json_flag(argv: list[str], flag: str) -> dict | None:
    return json.loads(argv[argv.index(flag) + 1]) if flag in argv else None


def test_every_rendered_argv_parses_with_its_pinned_vllm(bundles):
    checked = 0
    by_version = _nodes(bundles)
    assert set(by_version) == {"0.13.0", "0.32.0"}
    for version, nodes in sorted(by_version.items()):
        results = parse_with_vllm(version, [{"id": nid, "argv": c["command"]} for nid, c in nodes])
        for nid, c in nodes:
            r = results[nid]
            assert r["ok"], f"vLLM {version} rejects {nid}: {r.get('error')}"
            assert r["abbreviated"] == [], f"{nid}: vLLM {version} took {r['abbreviated']} as abbreviations"
            for flag, dest in (("--compilation-config", "compilation_config"),
                               ("--kv-transfer-config", "kv_transfer_config")):
                sent = _json_flag(c["command"], flag)
                if sent is not None:
                    assert r["configs"][dest] == sent, f"{nid}: vLLM {version} kept {r['configs'][dest]} of {sent}"
            assert c["command"].count("--compilation-config") <= 1
            assert not [t for t in c["command"] if t.startswith("--compilation_config.")]
            settings = r["settings"]
            for key, value in _expected_settings(c).items():
                assert settings[key] == value, f"{nid}: {key} parsed as {settings[key]!r}, plan says {value!r}"
            checked += 1
    assert checked == sum(len(n) for n in by_version.values())
    LINES.append(f"[vllm parser] {checked} rendered `vllm serve` argv ({len(bundles)} bundles) parsed by the real "
                 f"parser of vLLM {', '.join(sorted(by_version))}: every one accepted, no abbreviation, every "
                 "JSON config key kept, DP layout as planned")


def test_the_guides_decode_loses_cudagraph_mode_in_real_vllm():
    """Why pdcompose merges: the guide's decode, as typed, loses its cudagraph_mode in vLLM's parser."""
    guide_decode = ["m", "--compilation_config.pass_config.fuse_attn_quant", "true",
                    "--compilation-config", '{"cudagraph_mode":"FULL_DECODE_ONLY"}']
    merged = ["m", "--compilation-config",
              '{"cudagraph_mode":"FULL_DECODE_ONLY","pass_config":{"fuse_attn_quant":true}}']
    r = parse_with_vllm("0.13.0", [{"id": "guide", "argv": guide_decode}, {"id": "merged", "argv": merged}])
    assert r["guide"]["configs"]["compilation_config"]["cudagraph_mode"] is None
    assert r["merged"]["configs"]["compilation_config"] == {"cudagraph_mode": "FULL_DECODE_ONLY",
                                                             "pass_config": {"fuse_attn_quant": True}}


def test_real_vllm_accepts_an_abbreviation_silently_so_pdcompose_refuses_it(tmp_path):
    r = parse_with_vllm("0.13.0", [{"id": "typo", "argv": ["m", "--max-num-batched-token", "8192"]}])["typo"]
    assert r["ok"] and r["abbreviated"] == ["--max-num-batched-token"]
    topology = tmp_path / "t.yaml"
    topology.write_text(EXAMPLE.read_text() + "\nargs: {max-num-batched-token: 8192}\n")
    result = run_cli("validate", topology)
    assert result.returncode == 2
    assert "write --max-num-batched-tokens in full" in result.stderr
