"""The group watchdog's decisions (pdcompose/watchdog/group.py), a tick at a time, for a 2-node group: every
node's Group is stepped with what the others publish, like the real agents do each second."""

from __future__ import annotations

from dataclasses import dataclass, field

from pdcompose.watchdog.group import DOWN, SERVING, STARTING, Group, Local, Peer, Settings

HOSTS = {0: "d0", 1: "d1"}


@dataclass
class Node:
    """One node: its engine container (running or not, healthy or not) and its watchdog."""

    group: Group
    engine: str = "running"
    healthy: bool = False
    reachable: bool = True
    actions: list[str] = field(default_factory=list)

    def peer(self) -> Peer:
        g = self.group
        if not self.reachable:
            return Peer(g.s.node, None)
        return Peer(g.s.node, g.phase, g.generation, self.engine == "running", self.healthy)


def cluster(mode: str = "auto", **settings: float) -> list[Node]:
    nodes = [Node(Group(Settings(node=i, hosts=HOSTS, mode=mode, fix="pdcompose restart --instance decode-0",
                                 start_timeout=60, **settings))) for i in HOSTS]
    for n in nodes:
        n.group.begin(0.0, Local("running", False))
    return nodes


def tick(nodes: list[Node], now: float, forms: bool = True) -> None:
    """One round: each live watchdog decides from the others' last state; its actions act on its engine.
    `forms`: engines that run turn healthy once every engine of the group runs (the group formed)."""
    views = [n.peer() for n in nodes]
    for i, n in enumerate(nodes):
        if not n.reachable:
            continue
        actions = n.group.step(now, Local(n.engine, n.healthy), [v for j, v in enumerate(views) if j != i])
        n.actions += actions
        for a in actions:
            n.engine, n.healthy = ("exited", False) if a == "stop" else ("running", False)
    everyone = all(n.engine == "running" for n in nodes)
    for n in nodes:
        n.healthy = forms and everyone and n.engine == "running"


def run(nodes: list[Node], start: float, seconds: float, forms: bool = True) -> float:
    now = start
    while now < start + seconds:
        tick(nodes, now, forms)
        now += 1.0
    return now


def phases(nodes: list[Node]) -> list[str]:
    return [n.group.phase for n in nodes]


def test_the_group_forms_then_a_killed_worker_takes_the_master_out_and_the_group_restarts_master_first():
    nodes = cluster()
    now = run(nodes, 0, 3)
    assert phases(nodes) == [SERVING, SERVING]
    nodes[1].engine, nodes[1].healthy = "exited", False          # docker kill
    tick(nodes, now)
    assert nodes[0].group.phase == DOWN and nodes[0].group.reason == "the engine of node 1 on d1 stopped"
    now = run(nodes, now + 1, 2)
    assert nodes[0].actions[0] == "stop"                          # the survivor took itself out
    now = run(nodes, now, 5)
    assert phases(nodes) == [SERVING, SERVING]
    assert [n.group.generation for n in nodes] == [1, 1]
    assert nodes[0].actions == ["stop", "start"] and nodes[1].actions == ["start"]


def test_a_killed_master_restarts_the_whole_group():
    nodes = cluster()
    now = run(nodes, 0, 3)
    nodes[0].engine = "exited"
    now = run(nodes, now, 8)
    assert phases(nodes) == [SERVING, SERVING]
    assert nodes[1].actions == ["stop", "start"] and nodes[0].actions == ["start"]


def test_a_host_gone_for_good_keeps_the_group_down_without_flapping():
    nodes = cluster()
    now = run(nodes, 0, 3)
    nodes[1].reachable, nodes[1].engine, nodes[1].healthy = False, "gone", False
    now = run(nodes, now, 60)
    master = nodes[0].group
    assert master.phase == DOWN and nodes[0].engine == "exited"
    assert nodes[0].actions == ["stop"]                           # stopped once, never started again
    assert master.reason == "waiting for d1 (node 1): its group watchdog does not answer"


def test_a_silent_peer_whose_engine_still_serves_is_not_a_loss():
    """Its watchdog container restarting is no reason to take a serving group down."""
    nodes = cluster()
    now = run(nodes, 0, 3)
    nodes[1].reachable = False
    views = nodes[1].peer()
    assert views.phase is None
    for t in range(10):
        assert nodes[0].group.step(now + t, Local("running", True), [Peer(1, None, healthy=True)]) == []
    assert nodes[0].group.phase == SERVING


def test_a_group_that_keeps_crashing_at_start_backs_off_exponentially():
    nodes = cluster(backoff=5, backoff_max=40)
    now = run(nodes, 0, 3)
    nodes[1].engine = "exited"
    starts, reasons = [], set()
    for _ in range(120):                                          # node 1 dies 2 s after every start
        before = nodes[0].group.generation
        reasons.add(nodes[0].group.reason)
        tick(nodes, now, forms=False)
        if nodes[0].group.generation != before:
            starts.append(now)
        if nodes[1].engine == "running" and nodes[1].group.phase == STARTING and now - nodes[1].group.since >= 2:
            nodes[1].engine = "exited"
        now += 1
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) >= 4, starts
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0] + 10, gaps           # it waits longer each time
    assert nodes[0].group.failures >= 3
    assert any(r.startswith("the last start failed; next try in ") for r in reasons), reasons
    assert any(r.startswith("crash loop: 3 failed starts in a row; next try in ") for r in reasons), reasons


def test_manual_mode_takes_the_group_out_and_waits_for_a_person():
    nodes = cluster(mode="manual")
    now = run(nodes, 0, 3)
    nodes[1].engine = "exited"
    now = run(nodes, now, 30)
    assert phases(nodes) == [DOWN, DOWN] and nodes[0].engine == "exited" and nodes[0].actions == ["stop"]
    assert nodes[0].group.reason == ("out of service until a person restarts the group: "
                                     "`pdcompose restart --instance decode-0`")
    nodes[0].engine = nodes[1].engine = "running"                 # pdcompose restart: master, then worker
    now = run(nodes, now, 3)
    assert phases(nodes) == [SERVING, SERVING]


def test_a_node_by_node_deploy_waits_for_the_hosts_not_up_yet():
    nodes = cluster()
    nodes[1].reachable, nodes[1].engine = False, "missing"
    run(nodes, 0, 300, forms=False)
    assert nodes[0].group.phase == STARTING and nodes[0].actions == []
    assert nodes[0].group.reason == "waiting for d1 (node 1)"


def test_at_deploy_an_engine_not_created_or_started_yet_is_no_loss():
    """Compose creates and starts the watchdogs and the engines in any order: a peer whose engine is still
    missing or `created` is starting, not down, and nobody stops anything."""
    for before in ("missing", "created"):
        nodes = cluster()
        for n in nodes:
            n.group = Group(n.group.s)
            n.engine = before
            n.group.begin(0.0, Local(before, False))
        run(nodes, 0, 5, forms=False)
        nodes[0].engine = "running"
        run(nodes, 5, 3, forms=False)
        nodes[1].engine = "running"
        run(nodes, 8, 3)
        assert phases(nodes) == [SERVING, SERVING] and [n.actions for n in nodes] == [[], []], before
