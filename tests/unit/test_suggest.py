"""The one "did you mean": typos are caught, unrelated names sharing long parts are not suggested."""

from __future__ import annotations

import pytest

from pdcompose import catalog
from pdcompose.suggest import closest, did_you_mean


@pytest.mark.parametrize(("word", "known", "expect"), [
    ("hostz", ["hosts", "name", "router"], "hosts"),
    ("node", ["nodes", "tp", "dp_local"], "nodes"),
    ("dp-local", ["nodes", "tp", "dp_local"], "dp_local"),
    ("VLLM_LOGING_LEVEL", ["VLLM_LOGGING_LEVEL", "VLLM_LOGGING_COLOR"], "VLLM_LOGGING_LEVEL"),
    ("gpu-memory-utilisation", ["gpu-memory-utilization", "max-model-len"], "gpu-memory-utilization"),
    ("rr", ["r", "a", "b"], "r"),
])
def test_a_typo_gets_its_name(word: str, known: list[str], expect: str):
    assert closest(word, known) == expect


def test_an_unrelated_name_with_long_shared_parts_is_not_suggested():
    # the raw difflib ratio of these two is 0.85: a connector's variable for another connector's
    env = catalog.load("0.33.0").env
    assert "VLLM_MOONCAKE_ABORT_REQUEST_TIMEOUT" in env and "VLLM_NIXL_ABORT_REQUEST_TIMEOUT" not in env
    assert closest("VLLM_NIXL_ABORT_REQUEST_TIMEOUT", env) is None


def test_below_the_floor_nothing():
    assert did_you_mean("zzz", ["hosts", "router"]) == ""
    assert did_you_mean("polcy", ["policy"], show="--{}") == "did you mean --policy?"


def test_a_misspelt_required_key_is_one_error_with_its_fix():
    from pdcompose import topology
    from pdcompose.errors import TopologyError
    from tests.helpers import REPO

    path = REPO / "tests" / "bad" / "node-for-nodes.yaml"
    with pytest.raises(TopologyError) as exc:
        topology.load(path)
    assert [i.message for i in exc.value.issues] == ["unknown key 'node'; did you mean 'nodes'?"]


def test_day_two_selections_suggest_too():
    from pdcompose import topology
    from pdcompose.errors import PdcomposeError
    from pdcompose.ops.restart import parse_instances
    from pdcompose.plan import build_plan
    from tests.helpers import EXAMPLE

    plan = build_plan(topology.load(EXAMPLE))[0]
    with pytest.raises(PdcomposeError, match="did you mean 'decode-0'"):
        parse_instances(plan, ["decod-0"])
