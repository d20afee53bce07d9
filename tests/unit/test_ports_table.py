"""`pdcompose plan --ports`: every port each host opens, bound on the plan's address wherever vLLM and
the router allow it, and who needs to reach it."""

from __future__ import annotations

from pdcompose import topology
from pdcompose.plan import build_plan
from pdcompose.plan.ports import openings
from tests.topologies import pd_topology

TOPOLOGY = pd_topology("h21t", first="127.0.121.10", enabled=False, image="vllm/vllm-openai:v0.13.0",
                       decodes=[("d0", "d1")], decode_extra=", dp_local: 1", extra="monitoring: {enabled: true}\n")


def plan_of(rehearsal: bool = False):
    return build_plan(topology.from_text(TOPOLOGY, "t.yaml"), rehearsal=rehearsal)[0]


def test_api_servers_bind_their_own_address_not_every_interface():
    plan = plan_of()
    for host, c in plan.workers():
        i = c.command.index("--host")
        assert c.command[i + 1] == host.address
        assert all(u.bind == host.address for u in c.ports)
        assert host.address in c.healthcheck.test[-1]       # the probe follows the bound address


def test_every_port_says_who_reaches_it():
    rows = {(o.host, o.purpose): o for o in openings(plan_of())}
    assert rows[("p", "API")].reached_by == ["r", "the deployer"]
    assert rows[("p", "NIXL side channel")].reached_by == ["d0", "d1"]
    assert rows[("d0", "DP RPC")].reached_by == ["d1"] and ("d1", "DP RPC") not in rows
    assert rows[("d1", "NIXL side channel")].span == "5601"          # the global DP rank's port
    assert rows[("r", "router metrics")].reached_by == ["r"] and rows[("r", "router metrics")].address == "10.0.0.4"
    entry = [o for o in openings(plan_of()) if o.entry]
    assert [(o.host, o.port, o.reached_by) for o in entry] == [("r", 8123, ["clients (anyone)"])]


def test_the_table_covers_every_planned_port():
    plan = plan_of(rehearsal=True)
    planned = sorted((h.name, u.port, u.count) for h in plan.hosts for c in h.containers for u in c.ports)
    assert sorted((o.host, o.port, o.count) for o in openings(plan)) == planned
    assert all(o.address.startswith("127.0.121.") for o in openings(plan))   # a rehearsal binds everything
