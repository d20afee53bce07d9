"""Multi-node DP groups: their nodes never restart alone (planner), a broken group is named by status,
and a restart of any node takes its whole group (pure rules, no Docker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pdcompose import topology
from pdcompose.deploy.containers import ContainerState
from pdcompose.errors import PdcomposeError
from pdcompose.ops.restart import parse_instances, targets
from pdcompose.ops.status import Row, Status, broken_groups
from pdcompose.plan import build_plan
from pdcompose.plan.vllm import restart_policy
from tests.helpers import EXAMPLE

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def guide():
    return build_plan(topology.load(EXAMPLE))[0]


def test_nodes_of_multi_node_instances_never_restart_alone():
    assert restart_policy("unless-stopped", 2) == "no"
    assert restart_policy("on-failure:3", 4) == "no"
    assert restart_policy("unless-stopped", 1) == "unless-stopped"
    assert restart_policy("always", 1) == "always"


def test_the_guide_renders_no_restart_for_its_groups_and_keeps_the_router_policy(guide):
    policies = {c.service: c.restart for _, c in guide.containers()}
    nodes = ["prefill-0-node-0", "prefill-0-node-1", "prefill-1-node-0", "prefill-1-node-1",
             "decode-0-node-0", "decode-0-node-1"]
    # Docker never restarts a node alone; its group watchdog (which Docker keeps up) restarts the group whole.
    assert {s: p for s, p in policies.items() if s != "router"} == (
        dict.fromkeys(nodes, "no") | dict.fromkeys((f"{n}-watchdog" for n in nodes), "unless-stopped"))
    assert policies["router"] == "unless-stopped"


def test_single_node_instances_keep_the_topology_policy():
    text = EXAMPLE.read_text()
    text = text.replace("  - nodes: [gb200-n0, gb200-n1]\n", "  - nodes: [gb200-n0]\n  - nodes: [gb200-n1]\n")
    plan, _ = build_plan(topology.from_text(text + "restart: always\n", "t.yaml"))
    policies = {c.service: c.restart for _, c in plan.containers()}
    assert policies["prefill-0-node-0"] == policies["prefill-1-node-0"] == "always"
    assert policies["prefill-2-node-0"] == policies["decode-0-node-1"] == "no"
    assert policies["router"] == "always"


# --- status: a broken group, from what Docker says of each node ------------------------------------

def state(status: str = "running", started: float = 0, created: float | None = None, restarts: int = 0,
          exit_code: int | None = None) -> ContainerState:
    started_at = T0 + timedelta(seconds=started)
    return ContainerState(host="h", service="s", name="n", id="i", status=status, health=None,
                          exit_code=exit_code, restarts=restarts, started_at=started_at,
                          created=started_at if created is None else T0 + timedelta(seconds=created))


def node(index: int, st: ContainerState | None, *, nodes: int = 2, role: str = "decode", error: str | None = None,
         instance: int = 0) -> Row:
    return Row(f"h{index}", f"{role}-{instance}-node-{index}", role, f"http://10.0.0.{index}:8087", st, error,
               "200", "healthy", instance, index, nodes)


def only(rows: list[Row]) -> str:
    groups = broken_groups(rows)
    assert len(groups) == 1, groups
    return groups[0].message()


def test_a_healthy_group_is_not_broken():
    assert broken_groups([node(0, state()), node(1, state(started=3))]) == []


def test_a_worker_down_while_its_master_runs_is_named_with_the_fix():
    message = only([node(0, state()), node(1, state("exited", exit_code=137))])
    assert message.startswith("decode-0 is a broken DP group: decode-0-node-1 on h1 is exited (137) while "
                              "decode-0-node-0 on h0 runs")
    assert "`pdcompose restart --instance decode-0`" in message


@pytest.mark.parametrize("bad", [state("restarting", restarts=4), None, state("created")])
def test_a_restarting_missing_or_never_started_node_breaks_the_group(bad):
    assert "decode-0-node-1 on h1 is" in only([node(0, state()), node(1, bad)])


def test_a_master_down_breaks_the_group_too():
    assert "decode-0-node-0 on h0 is exited (1) while decode-0-node-1 on h1 runs" in only(
        [node(0, state("exited", exit_code=1)), node(1, state())])


def test_every_node_exited_needs_a_restart_but_an_undeployed_group_does_not():
    assert "while no node runs" in only([node(0, state("exited", exit_code=0)), node(1, state("exited"))])
    assert broken_groups([node(0, None), node(1, None)]) == []


def test_an_unreachable_host_is_not_judged():
    assert broken_groups([node(0, state()), node(1, None, error="h1: did not answer within 10 s")]) == []


def test_a_node_docker_restarted_alone_breaks_the_group():
    assert "Docker restarted decode-0-node-1 on h1 alone 3 time(s)" in only(
        [node(0, state()), node(1, state(started=600, created=0, restarts=3))])


def test_a_master_restarted_after_its_workers_started_breaks_the_group():
    message = only([node(0, state(started=900, created=0)), node(1, state(started=2, created=0))])
    assert ("its master decode-0-node-0 on h0 restarted at 2025-01-01 12:15:00 UTC, after decode-0-node-1 on h1 "
            "started") in message


def test_a_master_created_after_its_workers_is_a_node_by_node_deploy_not_a_restart():
    assert broken_groups([node(0, state(started=900, created=899)), node(1, state(started=2, created=1))]) == []


def test_a_worker_restarted_after_the_group_formed_breaks_it():
    assert "decode-0-node-1 on h1 restarted after the group formed around decode-0-node-0 on h0" in only(
        [node(0, state(started=1, created=0)), node(1, state(started=900, created=0))])
    # joining late for the first time (the guide's node-by-node deploy) is how groups form
    assert broken_groups([node(0, state(started=1, created=0)), node(1, state(started=900, created=899))]) == []


def test_a_group_restarted_together_is_healthy():
    assert broken_groups([node(0, state(started=900, created=0)), node(1, state(started=905, created=0))]) == []


def test_single_node_instances_and_the_router_are_not_groups():
    rows = [node(0, state("exited"), nodes=1), node(0, state(), nodes=1, instance=1),
            Row("r", "router", "router", "http://r", state("exited"), None, "refused", "-")]
    assert broken_groups(rows) == []


def test_a_broken_group_makes_status_not_ok():
    rows = [node(0, state(started=900, created=0)), node(1, state(started=2, created=0))]
    assert all(r.ok for r in rows)
    assert not Status(rows, [], broken_groups(rows)).ok and Status(rows, []).ok


# --- restart: any node of a group restarts the whole group ------------------------------------------

def services(chosen) -> list[str]:
    return [c.service for _, c in chosen]


def test_restarting_one_host_of_a_group_restarts_the_whole_group(guide):
    roles, chosen = targets(guide, [guide.host("gb200-n5")], [], set())
    assert services(chosen) == ["decode-0-node-0", "decode-0-node-1"]
    assert roles == ["prefill", "decode", "router"]           # the roles it would restart; only these run


def test_an_instance_is_restarted_alone_and_whole(guide):
    roles, chosen = targets(guide, list(guide.hosts), [], parse_instances(guide, ["decode-0"]))
    assert roles == ["decode"] and services(chosen) == ["decode-0-node-0", "decode-0-node-1"]


def test_a_prefill_instance_takes_every_decode_but_not_the_other_prefills(guide):
    roles, chosen = targets(guide, list(guide.hosts), [], parse_instances(guide, ["prefill-1"]))
    assert roles == ["prefill", "decode"]
    assert services(chosen) == ["prefill-1-node-0", "prefill-1-node-1", "decode-0-node-0", "decode-0-node-1"]


def test_an_unknown_instance_lists_the_known_ones(guide):
    with pytest.raises(PdcomposeError, match=r"no instance 'decode-7'.*instances: decode-0, prefill-0, prefill-1"):
        parse_instances(guide, ["decode-7"])
