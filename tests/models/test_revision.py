"""`model_revision` pins the weights: vLLM gets --revision (beside the flags pdcompose derives), a
`--revision` in args is refused with the field to use, and each host's HF cache is its own `hf_cache:` or the
cluster's. The real parser accepting the rendered argv is tests/vllm/test_real_parser.py (h100-colocated)."""

from __future__ import annotations

import pytest

from pdcompose import topology
from pdcompose.errors import TopologyError
from pdcompose.plan import build_plan
from tests.topologies import pd_topology

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _plan(extra: str, **kw):
    text = pd_topology("h25-rev", first="127.0.125.10", enabled=False, extra=extra, **kw)
    return build_plan(topology.from_text(text), rehearsal=False)[0]


def test_revision_reaches_every_vllm_argv_and_the_plan():
    plan = _plan(f"model_revision: {COMMIT}\nimage: vllm/vllm-openai:v0.13.0\n")
    assert plan.model_revision == COMMIT
    argvs = [c.command for _, c in plan.containers() if c.role in ("prefill", "decode")]
    assert len(argvs) == 2
    for argv in argvs:
        assert argv[argv.index("--revision") + 1] == COMMIT


def test_no_revision_no_flag_and_plan_json_unchanged():
    plan = _plan("image: vllm/vllm-openai:v0.13.0\n")
    assert all("--revision" not in c.command for _, c in plan.containers())
    assert "model_revision" not in plan.model_dump()


def test_revision_in_args_is_refused_with_the_field_to_use():
    with pytest.raises(TopologyError, match="model_revision"):
        _plan(f"image: vllm/vllm-openai:v0.13.0\nmodel_revision: {COMMIT}\nenv: {{}}\n",
              decode_extra=", args: {revision: v2}")


@pytest.mark.parametrize("bad", ["../x", "/main", "a b", "main..x"])
def test_revision_that_is_not_a_ref_is_refused(bad):
    with pytest.raises(TopologyError, match="model_revision"):
        _plan(f"image: vllm/vllm-openai:v0.13.0\nmodel_revision: '{bad}'\n")


def test_host_cache_overrides_the_cluster_cache_and_router_host_has_none():
    text = pd_topology("h25-rev", first="127.0.125.10", enabled=False,
                       extra="hf_cache: /data/hf\nimage: vllm/vllm-openai:v0.13.0\n")
    text = text.replace("d: {address: 10.0.0.2, gpus: [0]}", "d: {address: 10.0.0.2, gpus: [0], hf_cache: /scratch/hf}")
    plan = build_plan(topology.from_text(text), rehearsal=False)[0]
    caches = {h.name: h.hf_cache for h in plan.hosts}
    assert caches == {"p": "/data/hf", "d": "/scratch/hf", "r": None}
    decode = next(c for _, c in plan.containers("decode"))
    assert decode.env["HF_HOME"] == "/scratch/hf" and decode.volumes == ["/scratch/hf:/scratch/hf"]
