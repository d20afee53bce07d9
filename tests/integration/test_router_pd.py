"""The real vllm-router 0.1.17 in front of mock vLLM containers: start-up gating, PD traffic, failure.

Topology, all on the host network with one loopback address per container and the guide's ports:

    prefill-a  127.0.0.51:8087  DP 2 (engines 0, 1; NIXL side channels :5600, :5601)  loads in 6 s
    prefill-b  127.0.0.52:8087  DP 1                                                  loads in 12 s
    decode-a   127.0.0.61:8087  DP 1
    decode-b   127.0.0.62:8087  DP 1
    router     127.0.0.70:8123  (Prometheus on 127.0.0.70:29123), started right after the workers

The module fixture records a timeline of the start-up (router port, worker and router health every
0.1 s) and probes the router the moment it starts listening; the first two tests judge that record.
The router gates its listening port on ONE healthy worker per group, not on every worker (protocol
notes, 2.1): that is shown here, because pdcompose must do the full wait itself.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest

from pdcompose.bench.sse import payloads as sse_payloads
from pdcompose.wire.mock import MockStats
from tests.integration.conftest import Images, StartContainer, say
from tests.integration.dockerkit import HostNetContainer, http_status, port_open, wait_healthy, wait_until

pytestmark = pytest.mark.integration

MODEL = "mock-model"
WORKER_PORT = 8087                       # the guide's vLLM port, on every worker
SIDE_CHANNEL_PORT = 5600                 # VLLM_NIXL_SIDE_CHANNEL_PORT (+ global DP rank)
KV_TRANSFER_CONFIG = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
ROUTER_HOST, ROUTER_PORT, ROUTER_METRICS_PORT = "127.0.0.70", 8123, 29123
ROUTER = f"http://{ROUTER_HOST}:{ROUTER_PORT}"
CHECK_INTERVAL = 1                       # --worker-startup-check-interval and --health-check-interval-secs
FAILURE_THRESHOLD = 3                    # --health-failure-threshold (the router's default, made explicit)
ANSI = re.compile(r"\x1b\[[0-9;]*m")     # the router colours its log even without a TTY (NO_COLOR ignored)
REQUEST_ID = re.compile(r"^___prefill_addr_(?P<prefill>.+)___decode_addr_(?P<decode>.+)_(?P<uuid>[0-9a-f]{32})$")


@dataclass(frozen=True)
class Worker:
    name: str
    role: Literal["prefill", "decode"]
    host: str
    dp: int = 1
    load_delay: float = 0.0

    @property
    def addr(self) -> str:
        return f"{self.host}:{WORKER_PORT}"

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def command(self) -> list[str]:
        """`vllm serve` arguments after the image's `vllm serve` entrypoint, as for real vLLM."""
        dp = ["--data-parallel-size", str(self.dp), "--data-parallel-size-local", str(self.dp)] if self.dp > 1 else []
        return [MODEL, "--host", self.host, "--port", str(WORKER_PORT), *dp,
                "--kv-transfer-config", KV_TRANSFER_CONFIG]

    @property
    def env(self) -> dict[str, str]:
        return {"VLLM_NIXL_SIDE_CHANNEL_HOST": self.host, "VLLM_NIXL_SIDE_CHANNEL_PORT": str(SIDE_CHANNEL_PORT),
                "PDCOMPOSE_MOCK_LOAD_DELAY": str(self.load_delay)}


PREFILL_A = Worker("prefill-a", "prefill", "127.0.0.51", dp=2, load_delay=6)
PREFILL_B = Worker("prefill-b", "prefill", "127.0.0.52", load_delay=12)
DECODE_A = Worker("decode-a", "decode", "127.0.0.61")
DECODE_B = Worker("decode-b", "decode", "127.0.0.62")
WORKERS = (PREFILL_A, PREFILL_B, DECODE_A, DECODE_B)


def router_command() -> list[str]:
    urls = [a for w in WORKERS for a in (f"--{w.role}", w.url)]
    return ["--vllm-pd-disaggregation", "--policy", "round_robin", *urls,
            "--host", ROUTER_HOST, "--port", str(ROUTER_PORT),
            "--prometheus-host", ROUTER_HOST, "--prometheus-port", str(ROUTER_METRICS_PORT),
            "--worker-startup-check-interval", str(CHECK_INTERVAL), "--worker-startup-timeout-secs", "120",
            "--health-check-interval-secs", str(CHECK_INTERVAL),
            "--health-failure-threshold", str(FAILURE_THRESHOLD)]


# ---------------------------------------------------------------------------------------------------
# The cluster, and what its start-up looked like
# ---------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float                                  # seconds since the first worker container started
    router_open: bool
    router_health: int | None
    workers: dict[str, int | None]            # /health status per worker name


@dataclass
class Startup:
    router_started: float                     # when the router container was running
    samples: list[Sample] = field(default_factory=list)
    bound: Sample | None = None               # the first sample with the router port open
    readiness_at_bind: dict[str, Any] = field(default_factory=dict)
    probe_statuses: list[int] = field(default_factory=list)   # requests sent right after binding
    router_log: str = ""

    def first(self, predicate) -> Sample | None:
        return next((s for s in self.samples if predicate(s)), None)

    def resolution(self) -> float:
        """The longest gap between two samples: an event is seen up to this late. ~0.15 s on an idle
        machine, seconds on a loaded one; the windows below allow twice it rather than a fixed margin."""
        return max((b.t - a.t for a, b in zip(self.samples, self.samples[1:], strict=False)), default=0.0)


@dataclass
class Cluster:
    containers: dict[str, HostNetContainer]
    startup: Startup


def router_log(container: HostNetContainer) -> str:
    return ANSI.sub("", container.logs_text(tail=400))


def _sample(http: httpx.Client, t0: float, router_open: bool) -> Sample:
    return Sample(time.monotonic() - t0, router_open,
                  http_status(f"{ROUTER}/health", timeout=1, client=http) if router_open else None,
                  {w.name: http_status(f"{w.url}/health", timeout=1, client=http) for w in WORKERS})


def _record_startup(t0: float, router: HostNetContainer, startup: Startup, timeout: float = 90) -> None:
    """Sample every 0.1 s until all workers and the router say healthy; probe the router once it binds."""
    deadline = time.monotonic() + timeout
    with httpx.Client() as http:              # keep-alive: a sample costs milliseconds, not a handshake each
        while time.monotonic() < deadline:
            s = _sample(http, t0, port_open(ROUTER_HOST, ROUTER_PORT))
            startup.samples.append(s)
            if s.router_open and startup.bound is None:
                startup.bound = s
                # The moment it listens: what it believes, and what happens to requests (notes 2.1).
                startup.readiness_at_bind = http.get(f"{ROUTER}/readiness", timeout=2).json()
                startup.probe_statuses = [http.post(f"{ROUTER}/v1/completions", timeout=10, json={
                    "model": MODEL, "prompt": "probe", "max_tokens": 1}).status_code for _ in range(4)]
            if s.router_health == 200 and all(v == 200 for v in s.workers.values()):
                break
            time.sleep(0.1)
    startup.router_log = router_log(router)


@pytest.fixture(scope="module")
def cluster(images: Images, start_container: StartContainer, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    containers: dict[str, HostNetContainer] = {}
    failed_before, ready = request.session.testsfailed, False
    try:
        t0 = time.monotonic()
        for w in WORKERS:
            containers[w.name] = start_container(images.mock, name=w.name, host=w.host, command=w.command,
                                                 env=w.env)
        containers["router"] = router = start_container(images.router, name="router", host=ROUTER_HOST,
                                                        command=router_command())
        startup = Startup(router_started=time.monotonic() - t0)
        _record_startup(t0, router, startup)
        assert startup.bound is not None, f"the router never listened; its log:\n{startup.router_log[-3000:]}"

        # pdcompose's rule before any traffic: every worker healthy, and the router agreeing.
        wait_healthy([w.url for w in WORKERS], timeout=60)
        wait_until("router /health 200 with every worker healthy", _router_sees_all_healthy, timeout=30)
        for w in WORKERS:
            httpx.post(f"{w.url}/mock/reset", timeout=5).raise_for_status()
        say(request.config, f"cluster ready {time.monotonic() - t0:.1f} s after the first container started "
                            f"(router container up at {startup.router_started:.1f} s, listening at "
                            f"{startup.bound.t:.1f} s)")
        ready = True
        yield Cluster(containers, startup)
    finally:
        if not ready or request.session.testsfailed > failed_before:
            _dump_logs(request.config, containers)
        for c in containers.values():
            c.stop()                        # the session finalizer reaps by label whatever is left


def _dump_logs(config: pytest.Config, containers: dict[str, HostNetContainer]) -> None:
    for name, c in containers.items():
        try:
            tail = ANSI.sub("", c.logs_text(tail=40 if name == "router" else 12))
        except Exception as e:  # noqa: BLE001 - the container may be gone already
            tail = f"(no logs: {e})"
        say(config, f"--- last log lines of {name} ---\n{tail}")


def _router_sees_all_healthy() -> bool:
    if http_status(f"{ROUTER}/health") != 200:
        return False
    ready = httpx.get(f"{ROUTER}/readiness", timeout=2).json()
    return all(ready[g]["healthy"] == ready[g]["total"] for g in ("prefill", "decode"))


def _fetch_stats(worker: Worker) -> MockStats:
    response = httpx.get(f"{worker.url}/mock/stats", timeout=10)
    response.raise_for_status()
    return MockStats.model_validate(response.json())


# ---------------------------------------------------------------------------------------------------
# 1. Start-up gating
# ---------------------------------------------------------------------------------------------------


def test_router_listens_only_after_a_healthy_worker_in_each_group(cluster: Cluster,
                                                                  pytestconfig: pytest.Config) -> None:
    st = cluster.startup
    first_prefill = st.first(lambda s: any(s.workers[w.name] == 200 for w in WORKERS if w.role == "prefill"))
    first_decode = st.first(lambda s: any(s.workers[w.name] == 200 for w in WORKERS if w.role == "decode"))
    assert first_prefill and first_decode and st.bound
    # The router process was up and polling while no prefill was healthy, yet refused connections.
    assert "Waiting for 2 unique hosts" in st.router_log, st.router_log[-2000:]
    waiting = [s for s in st.samples if st.router_started + 1.0 < s.t < first_prefill.t]
    assert len(waiting) >= 5 and waiting[-1].t - waiting[0].t >= 2.0, \
        f"the router waited only {len(waiting)} samples; lengthen prefill-a's delay"
    assert not any(s.router_open for s in waiting)
    # ... and it listened within one check interval (+ slack) of the last group getting a healthy worker.
    gate = max(first_prefill.t, first_decode.t)
    assert gate <= st.bound.t <= gate + CHECK_INTERVAL + 1.0 + 2 * st.resolution(), (gate, st.bound.t, st.resolution())
    # It counted prefill-a's two engines from /metrics: 2 + 1 prefill targets.
    assert "Worker http://127.0.0.51:8087 reports 2 engine(s)" in st.router_log
    say(pytestconfig, f"router refused {len(waiting)} probes while waiting; first prefill healthy at "
          f"{first_prefill.t:.1f} s, router listening at {st.bound.t:.1f} s")


def test_router_does_not_wait_for_every_worker(cluster: Cluster, pytestconfig: pytest.Config) -> None:
    """The gotcha pdcompose guards against (protocol notes 2.1): one healthy prefill is enough."""
    st = cluster.startup
    assert st.bound is not None
    assert st.bound.workers[PREFILL_B.name] == 503, "prefill-b was expected to be still loading at bind time"
    # The router claimed every prefill target healthy (prefill-a's 2 DP engines + prefill-b) ...
    assert st.readiness_at_bind["prefill"] == {"healthy": 3, "total": 3}, st.readiness_at_bind
    # ... and requests round-robined onto the loading prefill failed with 500 (the PD path never retries).
    assert 500 in st.probe_statuses and 200 in st.probe_statuses, st.probe_statuses
    # Only the runtime checker (FAILURE_THRESHOLD x CHECK_INTERVAL later) took prefill-b out of rotation.
    marked = st.first(lambda s: s.router_health == 503 and s.workers[PREFILL_B.name] == 503)
    b_up = st.first(lambda s: s.workers[PREFILL_B.name] == 200)
    assert marked is not None and b_up is not None and marked.t < b_up.t
    assert marked.t - st.bound.t <= FAILURE_THRESHOLD * CHECK_INTERVAL + 1.0 + 2 * st.resolution()
    recovered = st.first(lambda s: s.t > b_up.t and s.router_health == 200)
    assert recovered is not None
    say(pytestconfig, f"router listened at {st.bound.t:.1f} s with prefill-b loading; probes {st.probe_statuses}; "
          f"router /health 503 at {marked.t:.1f} s; prefill-b healthy at {b_up.t:.1f} s; router /health "
          f"200 again at {recovered.t:.1f} s")


# ---------------------------------------------------------------------------------------------------
# 2. PD traffic
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    kind: Literal["completion", "chat"]
    stream: bool
    max_tokens: int
    prompt_words: int
    traceparent: str
    limit_field: str = "max_tokens"

    @property
    def path(self) -> str:
        return "/v1/completions" if self.kind == "completion" else "/v1/chat/completions"

    def body(self) -> dict[str, Any]:
        prompt = " ".join(f"w{i}" for i in range(self.prompt_words))
        body: dict[str, Any] = {"model": MODEL, "temperature": 0.0, self.limit_field: self.max_tokens}
        if self.kind == "completion":
            body["prompt"] = prompt
        else:
            body["messages"] = [{"role": "user", "content": prompt}]
        if self.stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return body


@dataclass
class Outcome:
    planned: Planned
    status: int
    text: str
    content_type: str
    seconds: float


def plan_requests(per_kind: int, seed: int = 7) -> list[Planned]:
    rng = random.Random(seed)
    planned = []
    for kind in ("completion", "chat"):
        for stream in (False, True):
            for i in range(per_kind):
                limit = "max_completion_tokens" if kind == "chat" and i % 2 else "max_tokens"
                planned.append(Planned(kind, stream, rng.randint(1, 12), rng.randint(1, 80),
                                       f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01", limit))
    rng.shuffle(planned)
    return planned


async def send_all(planned: list[Planned]) -> list[Outcome]:
    limits = httpx.Limits(max_connections=len(planned), max_keepalive_connections=len(planned))
    async with httpx.AsyncClient(base_url=ROUTER, timeout=60, limits=limits) as client:
        async def one(p: Planned) -> Outcome:
            start = time.monotonic()
            async with client.stream("POST", p.path, json=p.body(), headers={"traceparent": p.traceparent}) as r:
                text = (await r.aread()).decode()
            return Outcome(p, r.status_code, text, r.headers.get("content-type", ""), time.monotonic() - start)
        return await asyncio.gather(*(one(p) for p in planned))


def check_client_view(o: Outcome, request_id: str) -> list[str]:
    """What the client received: status, ids, token counts, usage and stream framing."""
    p, problems = o.planned, []
    where = f"{p.kind}{' stream' if p.stream else ''} {p.traceparent}"
    if o.status != 200:
        return [f"{where}: HTTP {o.status}: {o.text[:200]}"]
    expected_id = ("cmpl-" if p.kind == "completion" else "chatcmpl-") + request_id
    usage_want = {"prompt_tokens": p.prompt_words, "completion_tokens": p.max_tokens,
                  "total_tokens": p.prompt_words + p.max_tokens}
    if not p.stream:
        body = json.loads(o.text)
        choice = body["choices"][0]
        text = choice["text"] if p.kind == "completion" else choice["message"]["content"]
        usage = {k: body["usage"][k] for k in usage_want}
        checks = {"id": (body["id"], expected_id), "usage": (usage, usage_want),
                  "generated words": (len(text.split()), p.max_tokens),
                  "finish_reason": (choice["finish_reason"], "length"),
                  "kv_transfer_params": (body.get("kv_transfer_params"), None),
                  # the router copies the prefill's cached_tokens into the decode usage (notes 3.4)
                  "cached_tokens": ((body["usage"].get("prompt_tokens_details") or {}).get("cached_tokens"), 0)}
    else:
        payloads = [x.decode() for x in sse_payloads(o.text)]
        frames = [json.loads(x) for x in payloads[:-1]]
        tokens = [f for f in frames if f["choices"] and
                  (f["choices"][0].get("text") if p.kind == "completion" else f["choices"][0]["delta"].get("content"))]
        usage_frames = [f for f in frames if not f["choices"]]
        usage = {k: usage_frames[-1]["usage"][k] for k in usage_want} if usage_frames else None
        checks = {"content-type": (o.content_type.split(";")[0], "text/event-stream"),
                  "last frame": (payloads[-1] if payloads else None, "[DONE]"),
                  "[DONE] count": (payloads.count("[DONE]"), 1),
                  "ids": ({f["id"] for f in frames}, {expected_id}),
                  "token frames": (len(tokens), p.max_tokens),
                  "final finish_reason": (tokens[-1]["choices"][0]["finish_reason"] if tokens else None, "length"),
                  "usage frames": (len(usage_frames), 1), "usage": (usage, usage_want)}
    for name, (got, want) in checks.items():
        if got != want:
            problems.append(f"{where}: {name} = {got!r}, want {want!r}")
    return problems


def test_pd_traffic_through_the_real_router(cluster: Cluster, pytestconfig: pytest.Config) -> None:
    for w in WORKERS:       # only this test's requests in the records, whichever test ran before
        httpx.post(f"{w.url}/mock/reset", timeout=5).raise_for_status()
    planned = plan_requests(per_kind=40)
    start = time.monotonic()
    outcomes = asyncio.run(send_all(planned))
    elapsed = time.monotonic() - start
    stats = {w.name: _fetch_stats(w) for w in WORKERS}

    # Both legs of each request, matched through the traceparent the router propagates.
    legs: dict[str, dict[str | None, list[tuple[Worker, Any]]]] = {"prefill": {}, "decode": {}}
    problems: list[str] = []
    for w in WORKERS:
        for rec in stats[w.name].records:
            if rec.role is None:
                problems.append(f"{w.name}: rejected {rec.path} with {rec.status}")
                continue
            legs[rec.role].setdefault(rec.traceparent, []).append((w, rec))
    for w in WORKERS:
        s = stats[w.name]
        if s.kv_failures or s.errors or s.records_dropped:
            problems.append(f"{w.name}: kv_failures={s.kv_failures} errors={s.errors} dropped={s.records_dropped}")
    if len(legs["prefill"]) != len(planned) or len(legs["decode"]) != len(planned):
        problems.append(f"legs seen: {len(legs['prefill'])} prefill, {len(legs['decode'])} decode; "
                        f"sent {len(planned)}")

    prefill_targets: Counter[str] = Counter()
    decode_targets: Counter[str] = Counter()
    for o in outcomes:
        p = o.planned
        pre, dec = legs["prefill"].get(p.traceparent, []), legs["decode"].get(p.traceparent, [])
        if len(pre) != 1 or len(dec) != 1:
            problems.append(f"{p.traceparent}: {len(pre)} prefill and {len(dec)} decode legs (HTTP {o.status})")
            continue
        (pw, pr), (dw, dr) = pre[0], dec[0]
        rid = REQUEST_ID.match(pr.request_id or "")
        checks = {
            "same X-Request-ID": (dr.request_id, pr.request_id),
            "prefill addr in id": (rid and rid["prefill"], pw.addr),
            "decode addr in id": (rid and rid["decode"], dw.addr),
            "decode got prefill's kv_transfer_params": (dr.kv_transfer_params, pr.kv_transfer_params),
            "kv_check": (dr.kv_check, "ok"),
            "prefill side channel": ((pr.kv_transfer_params["remote_host"], pr.kv_transfer_params["remote_port"]),
                                     (pw.host, SIDE_CHANNEL_PORT + (pr.global_rank or 0))),
            "prefill engine id": (pr.kv_transfer_params["remote_engine_id"],
                                  stats[pw.name].engine_ids[pr.local_rank or 0]),
            "prefill rank header": (pr.rank_header, str(pr.local_rank) if pw.dp > 1 else None),
            "decode rank header": (dr.rank_header, None),
            "prefill stream": (pr.stream, False),
            "decode stream": (dr.stream, p.stream),
            "prompt tokens": ((pr.prompt_tokens, dr.prompt_tokens), (p.prompt_words, p.prompt_words)),
            "completion tokens": ((pr.completion_tokens, dr.completion_tokens), (1, p.max_tokens)),
        }
        problems += [f"{p.traceparent}: {name} = {got!r}, want {want!r}"
                     for name, (got, want) in checks.items() if got != want]
        problems += check_client_view(o, pr.request_id or "")
        prefill_targets[pw.name + (f"@{pr.rank_header}" if pr.rank_header is not None else "")] += 1
        decode_targets[dw.name] += 1

    assert not problems, f"{len(problems)} problems, first 15:\n" + "\n".join(problems[:15])
    assert len(outcomes) >= 100 and all(o.status == 200 for o in outcomes)
    # round_robin over 3 prefill targets (prefill-a@0, prefill-a@1, prefill-b) and 2 decodes
    assert set(prefill_targets) == {"prefill-a@0", "prefill-a@1", "prefill-b"}, prefill_targets
    assert min(prefill_targets.values()) >= len(planned) / 3 * 0.5, prefill_targets
    assert set(decode_targets) == {"decode-a", "decode-b"}, decode_targets
    assert min(decode_targets.values()) >= len(planned) / 2 * 0.5, decode_targets
    latencies = sorted(o.seconds for o in outcomes)
    kinds = Counter(f"{o.planned.kind}{'+stream' if o.planned.stream else ''}" for o in outcomes)
    say(pytestconfig, f"{len(outcomes)} concurrent requests {dict(kinds)}"
          f" in {elapsed:.2f} s; p50 {statistics.median(latencies) * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms;"
          f" prefill {dict(prefill_targets)}; decode {dict(decode_targets)}")


# ---------------------------------------------------------------------------------------------------
# 3. A decode worker dies (and is started again after, so the tests run in any order)
# ---------------------------------------------------------------------------------------------------


def test_router_health_turns_503_when_a_decode_stops(cluster: Cluster, pytestconfig: pytest.Config) -> None:
    try:
        _decode_stops(cluster, pytestconfig)
    finally:
        cluster.containers[DECODE_B.name].get_wrapped_container().start()
        wait_until("router sees decode-b again", lambda: http_status(f"{ROUTER}/health") == 200, timeout=90)


def _decode_stops(cluster: Cluster, pytestconfig: pytest.Config) -> None:
    assert http_status(f"{ROUTER}/health") == 200
    before = _fetch_stats(DECODE_A).requests
    cluster.containers[DECODE_B.name].get_wrapped_container().stop(timeout=10)   # SIGTERM, like `docker stop`
    window = FAILURE_THRESHOLD * CHECK_INTERVAL + 1.0
    statuses: list[int] = []                  # requests sent while the router has not noticed yet
    polls: list[float] = [time.monotonic()]

    def router_noticed() -> bool:
        statuses.append(httpx.post(f"{ROUTER}/v1/completions", timeout=10,
                                   json={"model": MODEL, "prompt": "during", "max_tokens": 1}).status_code)
        noticed = http_status(f"{ROUTER}/health") == 503
        polls.append(time.monotonic())
        return noticed

    took = wait_until("router /health 503", router_noticed, timeout=window + 30, interval=0.1)
    # One poll (a request through the router, then /health) is how late we can see it: seconds under load.
    resolution = max(b - a for a, b in zip(polls, polls[1:], strict=False))
    assert took <= window + resolution, f"router took {took:.1f} s to notice; window {window:.1f} + {resolution:.1f} s"
    health = httpx.get(f"{ROUTER}/health", timeout=2)
    assert DECODE_B.url in health.text, health.text
    assert httpx.get(f"{ROUTER}/readiness", timeout=2).json()["decode"] == {"healthy": 1, "total": 2}
    # Degraded but serving: every request now goes to decode-a.
    with httpx.Client(base_url=ROUTER, timeout=10) as client:
        after = [client.post("/v1/completions", json={"model": MODEL, "prompt": "after", "max_tokens": 2})
                 .status_code for _ in range(20)]
    assert after == [200] * 20
    assert _fetch_stats(DECODE_A).requests - before == 20 + statuses.count(200)
    say(pytestconfig, f"router /health 503 {took:.1f} s after "
          f"decode-b stopped (window {window:.0f} s, polls up to {resolution:.1f} s apart); "
          f"requests meanwhile: {Counter(statuses)}; "
          f"afterwards 20/20 served by decode-a")
