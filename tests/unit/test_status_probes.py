"""How `status` asks the endpoints: all from the router's host in one call, and from a host itself only
where that got no answer (the Docker side is faked; tests/e2e/test_lab.py runs it through real SSH
contexts and counts the docker calls and SSH connections)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdcompose.cli import common
from pdcompose.engine.inside import Answer, Request
from pdcompose.errors import DockerOperationError
from pdcompose.ops import status
from pdcompose.plan.models import Host
from tests.topologies import pd_topology

WORKERS = {"workers": []}


class Hosts:
    """A fake Access: which host was asked for what, and a rule for each answer."""

    def __init__(self, answer, down: tuple[str, ...] = ()):  # noqa: ANN001
        self.asked: list[tuple[str, list[str]]] = []
        self._answer, self._down = answer, down

    def fetch(self, host: Host, requests: list[Request], via: str) -> list[Answer]:
        self.asked.append((host.name, [r.url for r in requests]))
        if host.name in self._down:
            raise DockerOperationError(host.name, "no context")
        return [Answer(200, json.dumps(WORKERS).encode()) if r.url.endswith("/workers") else self._answer(host, r)
                for r in requests]


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    path = tmp_path / "pdcompose.yaml"
    path.write_text(pd_topology("probes", first="127.0.7.40", decodes=(("d0", "d1"),), enabled=False,
                                image="vllm/vllm-openai:v0.13.0"))
    return common._bundle_plan(path, None, False, None)


def _port(url: str) -> str:
    return url.split("//")[1].split("/")[0]


def test_every_endpoint_and_the_routers_view_come_from_the_routers_host_in_one_call(plan):
    hosts = Hosts(lambda host, r: Answer(200))
    probed = status._probes(plan, plan.hosts, hosts)  # type: ignore[arg-type]
    endpoints, view, warnings = probed.endpoints, probed.view, probed.warnings
    assert [name for name, _ in hosts.asked] == ["r"]
    asked = hosts.asked[0][1]
    assert len(asked) == sum(len(h.containers) for h in plan.hosts) + 1 and asked[-1].endswith("/workers")
    assert set(endpoints) == {c.service for h in plan.hosts for c in h.containers}
    assert set(endpoints.values()) == {"200"} and view == {} and warnings == []


def test_an_endpoint_silent_from_the_router_is_asked_on_its_host_and_a_cut_off_is_named(plan):
    d1 = plan.host("d1")
    d1_urls = {_port(c.url) for c in d1.containers}

    def answer(host: Host, r: Request) -> Answer:
        if host.name == "r" and _port(r.url) in d1_urls:
            return Answer(None, b"", "no answer within 3 s")
        return Answer(200)

    hosts = Hosts(answer)
    probed = status._probes(plan, plan.hosts, hosts)  # type: ignore[arg-type]
    endpoints, warnings = probed.endpoints, probed.warnings
    assert [name for name, _ in hosts.asked] == ["r", "d1"]
    assert all(endpoints[c.service] == "200 (timeout from r)" for c in d1.containers)
    assert len(warnings) == len(d1.containers) and "the router cannot reach it" in warnings[0]
    assert "on d1" in warnings[0] and "from the router's host r" in warnings[0]


def test_a_dead_endpoint_stays_dead_and_is_not_called_cut_off(plan):
    d0 = plan.host("d0")
    dead = {_port(c.url) for c in d0.containers}
    hosts = Hosts(lambda host, r: Answer(None, b"", "connection refused") if _port(r.url) in dead else Answer(200))
    probed = status._probes(plan, plan.hosts, hosts)  # type: ignore[arg-type]
    endpoints, warnings = probed.endpoints, probed.warnings
    assert [name for name, _ in hosts.asked] == ["r", "d0"]
    assert all(endpoints[c.service] == "refused" for c in d0.containers) and warnings == []


def test_without_the_routers_host_each_host_answers_for_itself(plan):
    hosts = Hosts(lambda host, r: Answer(200), down=("r",))
    probed = status._probes(plan, plan.hosts, hosts)  # type: ignore[arg-type]
    endpoints, view = probed.endpoints, probed.view
    assert sorted(name for name, _ in hosts.asked) == sorted(["r", *(h.name for h in plan.hosts)])
    router = next(c for c in plan.host("r").containers if c.role == "router")
    assert endpoints[router.service] == "unreachable" and view == {}
    assert all(endpoints[c.service] == "200" for h in plan.hosts if h.name != "r" for c in h.containers)
