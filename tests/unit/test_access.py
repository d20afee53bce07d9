"""Reaching a host's endpoints directly or through its Docker context: the pure parts (the in-host
script's answers, the per-host decision, one fetch per host per poll), without an engine. The same
paths against real Docker are in tests/integration/test_access_docker.py and the lab e2e (tests/e2e/test_lab.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pdcompose import topology
from pdcompose.deploy import gate
from pdcompose.engine import access as access_mod
from pdcompose.engine import inside
from pdcompose.engine.access import Access, judge
from pdcompose.engine.inside import REFUSED, Answer, Request
from pdcompose.errors import DockerOperationError, PdcomposeError
from pdcompose.ops.status import endpoint_text, router_view
from pdcompose.plan import build_plan
from tests.topologies import pd_topology


@pytest.fixture
def plan(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "pdcompose.yaml"
    path.write_text(pd_topology("acc", first="127.0.7.10"))
    return build_plan(topology.load(path))[0]


def test_the_in_host_script_answers_every_request_in_order_with_the_direct_probes_words():
    """The script itself, run by this Python against an address nothing listens on and a port that refuses:
    the same words httpx's errors become (so gate messages read the same either way)."""
    requests = [Request("http://127.0.0.1:9/health"), Request("http://127.0.0.1:9/v1/models", timeout=0.5)]
    payload = json.dumps([{"url": r.url, "method": r.method, "json": r.json, "timeout": r.timeout}
                          for r in requests])
    done = subprocess.run([sys.executable, "-c", inside.SCRIPT, payload], capture_output=True, text=True, timeout=30)
    answers = inside.parse(done.stdout, requests)
    assert answers == [Answer(None, b"", REFUSED), Answer(None, b"", REFUSED)]


def test_parse_decodes_bodies_and_names_timeouts_with_the_request_timeout():
    requests = [Request("http://a/health"), Request("http://a/v1/models", timeout=2.5)]
    line = json.dumps([[200, "eyJvIjoxfQ==", None], [None, "", "timeout"]])
    assert inside.parse("noise\n" + line + "\n", requests) == [Answer(200, b'{"o":1}'),
                                                               Answer(None, b"", "no answer within 2.5 s")]
    with pytest.raises(DockerOperationError, match="printed no answers"):
        inside.parse("Traceback ...", requests)


def test_judge_waits_for_a_server_and_trusts_only_an_agreeing_direct_answer():
    refused = Answer(None, b"", REFUSED)
    assert judge([refused, refused], [refused, refused]) is None               # nothing up yet: undecided
    up, down = Answer(200, b"ok"), Answer(503, b"")
    assert judge([up], [Answer(200, b"ok")]).way == "direct"
    # The isolated operator: its own loopback refuses where the host's server answers
    route = judge([up], [refused])
    assert route.way == "context" and REFUSED in route.why
    # Something else answers at that address from here: not the host's server
    other = judge([up], [Answer(404, b"")])
    assert other.way == "context" and "something else" in other.why
    # One agreeing answer proves the route (a server starting may answer 503, then 200)
    assert judge([down, up], [Answer(200, b""), Answer(200, b"")]).way == "direct"
    assert judge([refused, up], [Answer(200, b""), refused]).way == "context"  # only what answered inside counts
    assert judge([down], [Answer(503, b"")]).way == "direct"


def test_auto_decides_once_per_host_says_it_and_then_goes_one_way(plan, monkeypatch):
    host = plan.hosts[0]
    calls: list[str] = []
    inner = [Answer(None, b"", REFUSED)]

    def through(h, requests, via):  # noqa: ANN001, ANN202
        calls.append("context")
        return list(inner)

    def direct(requests):  # noqa: ANN001, ANN202
        calls.append(f"direct {requests[0].timeout}")
        return [Answer(None, b"", REFUSED)]

    monkeypatch.setattr(access_mod.inside, "fetch", through)
    monkeypatch.setattr(access_mod, "direct", direct)
    said: list[str] = []
    ways = Access("auto", said.append)
    ask = [Request("http://x/health")]
    assert ways.fetch(host, ask, "v") == inner and sorted(calls) == ["context", f"direct {access_mod.DIRECT_TRY}"]
    assert ways.ways() == {} and said == []                                    # a starting server proves nothing
    inner[0] = Answer(200, b"")
    ways.fetch(host, ask, "v")
    assert ways.ways() == {host.name: "context"}
    assert said == [f"{host.name}: reached through its Docker context {host.context} "
                    f"(its address does not answer from here: {REFUSED})"]
    calls.clear()
    ways.fetch(host, ask, "v")
    assert calls == ["context"] and len(said) == 1


def test_auto_falls_back_to_direct_when_the_context_cannot_run_requests(plan, monkeypatch):
    host = plan.hosts[0]

    def broken(h, requests, via):  # noqa: ANN001, ANN202
        raise DockerOperationError(h.name, "exec failed")

    monkeypatch.setattr(access_mod.inside, "fetch", broken)
    monkeypatch.setattr(access_mod, "direct", lambda requests: [Answer(200, b"")])
    ways = Access("auto")
    assert ways.fetch(host, [Request("http://x/health")], "v") == [Answer(200, b"")]
    assert ways.ways() == {host.name: "direct"}
    monkeypatch.setattr(access_mod, "direct", lambda requests: [Answer(None, b"", REFUSED)])
    with pytest.raises(PdcomposeError, match="exec failed"):
        Access("auto").fetch(host, [Request("http://x/health")], "v")


def test_a_forced_way_is_used_and_said(plan, monkeypatch):
    monkeypatch.setattr(access_mod.inside, "fetch", lambda h, r, v: [Answer(201, b"")])
    said: list[str] = []
    assert Access("context", said.append).fetch(plan.hosts[0], [Request("http://x/")], "v") == [Answer(201, b"")]
    assert said == [f"{plan.hosts[0].name}: reached through its Docker context {plan.hosts[0].context} "
                    "(access: context)"]
    with pytest.raises(PdcomposeError, match="--access ssh: choose one of auto, direct, context"):
        access_mod.mode_of("ssh")


def test_the_gate_fetches_each_host_once_per_poll_for_all_its_targets(plan):
    """Two targets on one host, one on another: a poll is one fetch per host, in the targets' order."""
    h0, h1 = plan.hosts[0], plan.hosts[1]
    fetched: list[tuple[str, int]] = []
    lock = threading.Lock()

    class Fake:
        def fetch(self, host, requests, via):  # noqa: ANN001, ANN202
            with lock:
                fetched.append((host.name, len(requests)))
            return [Answer(200, r.url.encode()) for r in requests]

    asks = {(h0.name, "a"): [Request("http://a/1"), Request("http://a/2")], (h0.name, "b"): [Request("http://b/1")],
            (h1.name, "c"): [Request("http://c/1")]}
    rounds = gate._Rounds(Fake(), {h0.name: h0, h1.name: h1}, asks)  # type: ignore[arg-type]  # a stand-in with Access's fetch, not an Access

    async def poll() -> list[list[Answer]]:
        return list(await asyncio.gather(*(rounds.answers(t) for t in asks)))

    first = asyncio.run(_twice(poll))
    assert sorted(fetched) == sorted([(h0.name, 3), (h1.name, 1)] * 2)
    assert [a.body for a in first[0]] == [b"http://a/1", b"http://a/2"] and first[1][0].body == b"http://b/1"


async def _twice(poll):  # noqa: ANN001, ANN202
    await poll()
    return await poll()


def test_status_words_and_the_router_view_from_answers():
    assert endpoint_text(Answer(503)) == "503"
    assert endpoint_text(Answer(None, b"", REFUSED)) == "refused"
    assert endpoint_text(Answer(None, b"", "no answer within 3 s")) == "timeout"
    body = json.dumps({"workers": [
        {"url": "http://127.0.0.1:8087", "is_healthy": True, "worker_type": "prefill"},
        {"url": "http://127.0.0.1:8088@0", "is_healthy": True, "worker_type": "decode"},
        {"url": "http://127.0.0.1:8088@1", "is_healthy": False, "worker_type": "decode"}]}).encode()
    view = router_view(Answer(200, body))
    assert view == {"http://127.0.0.1:8087": "healthy", "http://127.0.0.1:8088": "1/2 healthy"}
    assert router_view(Answer(None, b"", REFUSED)) == {} and router_view(Answer(200, b"<html>")) == {}


def test_bench_reads_every_workers_stats_with_one_fetch_per_host(plan):
    """The pairing proof's records, whichever way each host is reached: one fetch per worker host, keyed by
    the worker's URL; a worker that cannot answer makes the pairing unverifiable, never a traceback."""
    from pdcompose.bench.pairing import PairingError
    from pdcompose.bench.remote import stats_through

    stats = json.dumps({"ready": True, "engine_ids": [], "requests": 0, "by_role": {}, "by_rank": {},
                        "kv_checks": {}, "kv_failures": 0, "errors": 0, "records_dropped": 0,
                        "records": []}).encode()
    asked: list[tuple[str, list[str], str]] = []

    class Fake:
        status = 200

        def fetch(self, host, requests, via):  # noqa: ANN001, ANN202
            asked.append((host.name, [r.url for r in requests], via))
            return [Answer(self.status, stats) for _ in requests]

    found = stats_through(plan, Fake())  # type: ignore[arg-type]  # a stand-in with Access's fetch, not an Access
    workers = [c for _, c in plan.workers()]
    assert sorted(found) == sorted(c.url for c in workers)
    assert sorted(u for _, urls, _ in asked for u in urls) == sorted(f"{c.url}/mock/stats" for c in workers)
    assert len(asked) == len({h.name for h, _ in plan.workers()})
    broken = Fake()
    broken.status = 503
    with pytest.raises(PairingError, match="cannot read mock stats"):
        stats_through(plan, broken)  # type: ignore[arg-type]  # a stand-in with Access's fetch, not an Access


def test_top_scrapes_each_host_once_by_way_of_access(plan):
    """`top` without Prometheus: every node's /metrics, one fetch per host; a host that cannot be asked shows
    its nodes down instead of failing the view."""
    from pdcompose.ops.top import DirectSource

    metrics = b'vllm:num_requests_running{engine="0"} 3\n'
    asked: list[str] = []

    class Fake:
        def fetch(self, host, requests, via):  # noqa: ANN001, ANN202
            asked.append(host.name)
            if host.name == plan.router.host:
                raise DockerOperationError(host.name, "context gone")
            return [Answer(200, metrics) for _ in requests]

    snap = DirectSource(plan, access=Fake()).sample()  # type: ignore[arg-type]  # a stand-in with Access's fetch, not an Access
    assert sorted(asked) == sorted(h.name for h in plan.hosts)
    rows = {r.instance: r for r in snap.rows}
    assert rows["router"].up is False
    assert all(r.up and r.running == 3 for r in snap.rows if r.role != "router")


def test_the_topology_says_how_to_reach_its_hosts_and_the_default_leaves_plans_as_they_were(tmp_path, plan):
    path = tmp_path / "ctx.yaml"
    path.write_text(pd_topology("acc", first="127.0.7.10", extra="access: context\n"))
    forced = build_plan(topology.load(path))[0]
    assert forced.access == "context" and json.loads(forced.model_dump_json())["access"] == "context"
    assert plan.access == "auto" and "access" not in json.loads(plan.model_dump_json())
    assert forced.fingerprint != plan.fingerprint


@pytest.mark.parametrize(("stderr", "image"), [
    ("Error response from daemon: container abc is not running", None),
    ("Error: No such container: acc-p-prefill-0-node-0-1", None),
    ('OCI runtime exec failed: exec: "python3": executable file not found in $PATH: unknown', "pdcompose")])
def test_a_stopped_container_or_one_without_python_gets_a_helper_container(plan, monkeypatch, stderr, image):
    from pdcompose import defaults
    from pdcompose.engine.cli import CliResult

    host = next(h for h in plan.hosts if any(c.role == "prefill" for c in h.containers))
    service = host.containers[0]
    calls: list[list[str]] = []

    def run(name, context, args, timeout):  # noqa: ANN001, ANN202
        calls.append(args)
        if args[0] == "exec":
            return CliResult(1, "", stderr)
        return CliResult(0, json.dumps([[200, "", None]]) + "\n", "")

    monkeypatch.setattr(inside, "run", run)
    assert inside.fetch(host, [Request("http://x/health")], service.service) == [Answer(200, b"")]
    assert calls[0][:2] == ["exec", f"{host.project}-{service.service}-1"]
    helper = calls[1]
    assert helper[:4] == ["run", "--rm", "--network", "host"] and "io.pdcompose.helper=http" in helper
    assert (defaults.MOCK_VLLM_IMAGE if image else service.image) in helper


def test_a_context_that_cannot_exec_is_an_error_naming_host_and_context(plan, monkeypatch):
    from pdcompose.engine.cli import CliResult

    host = plan.hosts[0]
    monkeypatch.setattr(inside, "run", lambda *a: CliResult(1, "", "error during connect: ssh: no route to host"))
    with pytest.raises(DockerOperationError, match=f"{host.name}: .*Docker context '{host.context}'.*no route"):
        inside.fetch(host, [Request("http://x/health")], host.containers[0].service)


def test_images_push_gives_the_router_host_the_load_generator_image_and_no_other_host(plan):
    from pdcompose import defaults
    from pdcompose.bench.remote import loadgen_images
    from pdcompose.images.inventory import wanted

    plain, with_loadgen = wanted(plan.hosts), wanted(plan.hosts, loadgen_images(plan))
    assert defaults.MOCK_VLLM_IMAGE not in plain[plan.router.host]
    assert with_loadgen[plan.router.host] == sorted({*plain[plan.router.host], defaults.MOCK_VLLM_IMAGE})
    assert {h: refs for h, refs in with_loadgen.items() if h != plan.router.host} == \
        {h: refs for h, refs in plain.items() if h != plan.router.host}


@pytest.mark.docker
def test_bench_through_a_context_without_the_load_generator_image_says_how_to_copy_it(plan):
    from pdcompose.bench.remote import run_on_host
    from pdcompose.bench.workload import BenchConfig

    router = plan.host(plan.router.host).model_copy(update={"context": "default"})
    with pytest.raises(DockerOperationError, match=r"pdcompose/absent:none.*not on this host.*images push --loadgen"):
        run_on_host(router, BenchConfig(base_url=plan.router.url, model=plan.served_model_name), plan.fingerprint, {},
                    image="pdcompose/absent:none")
