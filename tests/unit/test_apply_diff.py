"""`apply`'s pure half: definition hashes and the change plan, from plans only (no Docker)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pdcompose.apply.diff import argv_changes, change_plan
from pdcompose.apply.model import Running
from pdcompose.plan import build_plan
from pdcompose.plan.definition import definition_hash, definitions
from pdcompose.plan.models import Plan, SecretRef
from pdcompose.render import render_files
from pdcompose.topology import load
from tests.apply.topo import topology


def plan_of(tmp_path: Path, text: str) -> Plan:
    path = tmp_path / "pdcompose.yaml"
    path.write_text(text)
    return build_plan(load(path))[0]


def running(plan: Plan) -> list[Running]:
    """What Docker would report after deploying `plan`."""
    return [Running(h.name, c.service, c.role, c.instance, definition_hash(h, c), c.image, list(c.command),
                    {k: v for k, v in c.env.items() if not isinstance(v, SecretRef)}, "running",
                    c.labels.get("io.pdcompose.watches"))
            for h, c in plan.containers()]


def test_hash_is_stable_and_follows_what_runs(tmp_path: Path):
    a, b = plan_of(tmp_path, topology("h20u")), plan_of(tmp_path, topology("h20u"))
    assert [definitions(h) for h in a.hosts] == [definitions(h) for h in b.hosts]
    changed = plan_of(tmp_path, topology("h20u", prefill_args={0: "max-num-seqs: 64"}))
    old, new = {h.name: definitions(h) for h in a.hosts}, {h.name: definitions(h) for h in changed.hosts}
    assert old["p0"] != new["p0"]
    assert old["p1"] == new["p1"] and old["d0"] == new["d0"]
    assert old["r"] == new["r"]                       # same worker list: the router's definition is untouched


def test_rendered_label_is_the_hash(tmp_path: Path):
    plan = plan_of(tmp_path, topology("h20u"))
    text = render_files(plan)["p0/compose.yaml"].decode()
    assert f'"io.pdcompose.definition": "{definitions(plan.host("p0"))["prefill-0-node-0"]}"' in text


def test_same_topology_twice_is_no_change(tmp_path: Path):
    plan = plan_of(tmp_path, topology("h20u"))
    changes = change_plan(plan, running(plan), set(plan.router.prefill_urls + plan.router.decode_urls))
    assert changes.empty and changes.downtime == []
    assert changes.unchanged == ["prefill-0", "prefill-1", "decode-0", "decode-1", "router"]


def test_flag_change_on_one_prefill(tmp_path: Path):
    old = plan_of(tmp_path, topology("h20u"))
    new = plan_of(tmp_path, topology("h20u", prefill_args={0: "max-num-seqs: 64"}))
    changes = change_plan(new, running(old))
    assert [(s.kind, s.name) for s in changes.steps] == [("change", "prefill-0"), ("restart-router", "router")]
    assert changes.steps[0].changes == ["prefill-0-node-0: + --max-num-seqs 64"]
    assert "1 other prefill instance(s) serve" in changes.steps[0].cost
    assert [d.split(":")[0] for d in changes.downtime] == ["the router restarts"]


def test_added_then_removed_prefill(tmp_path: Path):
    two, three = plan_of(tmp_path, topology("h20u")), plan_of(tmp_path, topology("h20u", prefills=3))
    add = change_plan(three, running(two))
    assert [(s.kind, s.name) for s in add.steps] == [("add", "prefill-2"), ("restart-router", "router")]
    assert add.unchanged == ["prefill-0", "prefill-1", "decode-0", "decode-1"]
    remove = change_plan(two, running(three))
    assert [(s.kind, s.name) for s in remove.steps] == [("remove", "prefill-2"), ("restart-router", "router")]
    assert remove.steps[0].members == [("p2", "prefill-2-node-0")]


def test_image_change_everywhere_needs_downtime(tmp_path: Path):
    old = plan_of(tmp_path, topology("h20u"))
    new = plan_of(tmp_path, topology("h20u", image="vllm/vllm-openai:v0.11.2"))
    changes = change_plan(new, running(old))
    assert [s.name for s in changes.steps] == ["prefill-0", "prefill-1", "decode-0", "decode-1", "router"]
    assert any("old prefill must never pair with a new decode" in d for d in changes.downtime)


def test_the_only_decode_instance_needs_downtime(tmp_path: Path):
    old = plan_of(tmp_path, topology("h20u", decodes=1))
    new = plan_of(tmp_path, topology("h20u", decodes=1, decode_args={0: "max-num-seqs: 64"}))
    changes = change_plan(new, running(old))
    assert "decode-0 is the only decode instance" in changes.downtime


def test_out_of_rotation_instance_restarts_the_router(tmp_path: Path):
    """An apply interrupted after recreating prefill-0 (labels new, router not restarted): the next finishes."""
    plan = plan_of(tmp_path, topology("h20u"))
    routed = set(plan.router.prefill_urls[1:] + plan.router.decode_urls)
    changes = change_plan(plan, running(plan), routed)
    assert [s.kind for s in changes.steps] == ["restart-router"]
    assert f"re-admits {plan.router.prefill_urls[0]}" in changes.steps[0].changes[0]


@pytest.mark.parametrize(("old", "new", "expected"), [
    (["m", "--a", "1", "--b"], ["m", "--a=2", "--b"], ["--a: 1 -> 2"]),
    (["m", "--a", "1"], ["m", "--a", "1", "--c", "x"], ["+ --c x"]),
    (["m", "--max_num_seqs", "8"], ["m"], ["- --max-num-seqs 8"]),
    (["m"], ["n"], ["model: m -> n"]),
])
def test_argv_changes(old: list[str], new: list[str], expected: list[str]):
    assert argv_changes(old, new) == expected


def test_a_dp_group_moves_as_a_whole():
    """The guide's decode is one DP group over two nodes: a change on one node recreates both, master first."""
    from tests.helpers import REPO

    plan = build_plan(load(REPO / "examples" / "deepseek-r1-gb200.yaml"))[0]
    now = running(plan)
    first = next(i for i, r in enumerate(now) if r.service == "decode-0-node-1")
    now[first] = dataclasses.replace(now[first], definition="0" * 16, command=[*now[first].command, "--x"])
    changes = change_plan(plan, now)
    step = changes.steps[0]
    assert (step.kind, step.name) == ("change", "decode-0")
    # Its group watchdogs go with it (stopped first, started last by carry), not prefill-0's (same index).
    assert [s for _, s in step.members] == ["decode-0-node-0", "decode-0-node-1",
                                            "decode-0-node-0-watchdog", "decode-0-node-1-watchdog"]
    assert step.changes == ["decode-0-node-1: - --x"]
    assert step.cost.startswith("2 restart(s)")
    assert changes.downtime[0].startswith("decode-0 is the only decode instance")
    assert [(s.kind, s.name) for s in changes.steps] == [("change", "decode-0"), ("restart-router", "router")]


def test_a_removed_group_takes_its_own_watchdogs_only():
    from tests.helpers import REPO

    plan = build_plan(load(REPO / "examples" / "deepseek-r1-gb200.yaml"))[0]
    gone = [r for r in running(plan) if not r.service.startswith("prefill-1")]
    ghost = [dataclasses.replace(r, service=r.service.replace("decode-0", "decode-1"), instance=1,
                                 watches=r.watches and "decode-1")
             for r in running(plan) if r.service.startswith("decode-0")]
    changes = change_plan(plan, [*gone, *ghost])
    kinds = [(s.kind, s.name) for s in changes.steps]
    assert kinds == [("add", "prefill-1"), ("remove", "decode-1"), ("restart-router", "router")], kinds
    added, removed = changes.steps[0], changes.steps[1]
    assert [s for _, s in added.members][-2:] == ["prefill-1-node-0-watchdog", "prefill-1-node-1-watchdog"]
    assert [s for _, s in removed.members] == ["decode-1-node-0", "decode-1-node-1",
                                               "decode-1-node-0-watchdog", "decode-1-node-1-watchdog"]
    assert removed.cost.startswith("2 container(s)") and added.cost.startswith("2 container(s)")


def test_drain_reads_every_engines_gauges():
    from pdcompose.apply.drain import busy

    text = "\n".join([
        "# HELP vllm:num_requests_running x", 'vllm:num_requests_running{engine="0",model_name="m"} 0.0',
        'vllm:num_requests_running{engine="1",model_name="m"} 2.0',
        'vllm:num_requests_waiting{engine="0",model_name="m"} 1.0',
        'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.25',
        'vllm:prompt_tokens_total{engine="0",model_name="m"} 99.0'])
    assert busy(text) == 3.25
    assert busy(text.replace(" 2.0", " 0.0").replace(" 1.0", " 0.0").replace(" 0.25", " 0.0")) == 0
