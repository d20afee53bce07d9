"""The request function and the dispatcher, against in-process aiohttp servers on 127.0.0.1 (ephemeral
ports) whose handlers write hand-made responses.

Real-process tests against the mock vLLM server are in test_bench_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from pdcompose.bench.client import (
    Progress,
    env_proxy,
    make_session,
    new_traceparent,
    run_requests,
    send_request,
)
from pdcompose.bench.stats import RequestOutcome
from pdcompose.bench.workload import BenchConfig, Workload
from tests.bench.stub import Handler, serve, sse
from tests.helpers import assert_no_hang

FIXTURES = Path(__file__).parent / "fixtures"
COMPLETIONS = (FIXTURES / "completions_stream.sse").read_bytes()
CHAT = (FIXTURES / "chat_stream.sse").read_bytes()
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")



def config(base_url: str, **kw) -> BenchConfig:
    base = {"base_url": base_url, "model": "mock-model", "num_prompts": 4, "random_input_len": 8,
            "random_output_len": 3}
    return BenchConfig(**(base | kw))


@dataclass
class Seen:
    """What a test server saw: the requests (method, URL, headers, body) and the client ports."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)

    def record(self, handler: Handler) -> Handler:
        async def recording(request: web.BaseRequest) -> web.StreamResponse:
            self.ports.add(request.transport.get_extra_info("peername")[1])
            self.requests.append((request.method, str(request.url), dict(request.headers), await request.read()))
            return await handler(request)
        return recording


def reply(status: int = 200, body: bytes = b"") -> Handler:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=status, body=body)
    return handler


async def _send(base_url: str, **kw) -> RequestOutcome:
    cfg = config(base_url, **kw)
    async with make_session(cfg) as session:
        return await send_request(session, Workload(cfg), 0)


def send_one(handler: Handler, **kw) -> RequestOutcome:
    async def go() -> RequestOutcome:
        async with serve(handler) as url:
            return await _send(url, **kw)
    return asyncio.run(go())


def run(handler: Handler, **kw) -> tuple[list[RequestOutcome], float, list[Progress]]:
    """run_requests against a server running `handler`; the outcomes, the duration and the updates."""
    updates: list[Progress] = []

    async def go():
        async with serve(handler) as url:
            return await run_requests(config(url, **kw), progress=updates.append)
    outcomes, duration = asyncio.run(go())
    return outcomes, duration, updates


def frames(stream: bytes) -> list[bytes]:
    return [f + b"\n\n" for f in stream.split(b"\n\n") if f]


def test_completions_stream_split_into_reads_with_gaps() -> None:
    # each frame in two network reads, 10 ms apart
    parts = [p for f in frames(COMPLETIONS) for p in (f[:17], f[17:])]
    out = send_one(sse(parts, gap=0.01))
    assert out.success and out.error == "" and out.status == 200
    assert out.output_tokens == 3 and out.prompt_len == 7 and out.usage_reported
    assert len(out.itl) == 2 and all(x > 0.005 for x in out.itl)
    assert 0 < out.ttft <= out.latency
    assert out.latency == pytest.approx(out.ttft + sum(out.itl))


def test_chat_stream() -> None:
    out = send_one(sse([CHAT]), endpoint="/v1/chat/completions")
    assert out.success and out.output_tokens == 2 and out.prompt_len == 7 and len(out.itl) == 1


def test_stream_without_usage_frame_counts_token_chunks() -> None:
    kept = [f for f in frames(COMPLETIONS) if b'"choices": []' not in f]
    out = send_one(sse(kept))
    assert out.success and not out.usage_reported
    assert out.output_tokens == 3 and out.prompt_len == 8      # the words sent


def test_stream_without_done_and_without_final_blank_line() -> None:
    data = COMPLETIONS[:COMPLETIONS.index(b"data: [DONE]")].rstrip(b"\n")
    out = send_one(sse([data]))
    assert out.success and out.output_tokens == 3


def test_stream_without_token_chunk_is_a_failure() -> None:
    usage_only = [f for f in frames(COMPLETIONS) if b'"choices": []' in f or b"[DONE]" in f]
    out = send_one(sse(usage_only))
    assert not out.success and "without a token chunk" in out.error


def test_error_frame_in_stream_is_the_reported_error() -> None:
    out = send_one(sse([b'data: {"object":"error","message":"boom","code":500}\n\n', b"data: [DONE]\n\n"]))
    assert not out.success and out.error == "boom"


def test_malformed_frame_fails_the_request() -> None:
    out = send_one(sse([b"data: {not json\n\n"]))
    assert not out.success and out.error.startswith("JSONDecodeError")


def test_non_200_keeps_status_and_body_excerpt() -> None:
    body = json.dumps({"object": "error", "message": "x" * 1000, "code": 503}).encode()
    out = send_one(reply(503, body))
    assert not out.success and out.status == 503
    assert out.error.startswith('HTTP 503: {"object": "error"') and len(out.error) <= 200


def test_non_200_excerpt_does_not_wait_for_the_whole_body() -> None:
    # 8 KiB of error body, then a body that never ends: the client reads ~4 KiB and gives up the rest
    start = time.monotonic()
    out = send_one(sse([b"e" * 8192], status=500, hold=30), timeout=20)
    assert not out.success and out.status == 500 and out.error.startswith("HTTP 500: eee")
    assert_no_hang(time.monotonic() - start, 15, "the client waited for the error body (the 20 s timeout)")


def test_connection_error_is_data_not_an_exception() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))                 # bound but not listening: connecting is refused
        port = sock.getsockname()[1]
        out = asyncio.run(_send(f"http://127.0.0.1:{port}"))
    assert not out.success and out.status is None
    assert out.error == f"ConnectError: 127.0.0.1:{port}: Connection refused"


def test_timeout_is_a_failure() -> None:
    out = send_one(sse(frames(COMPLETIONS), gap=0.3), timeout=0.2)
    assert not out.success and out.error.startswith("timeout")


def test_non_streaming_completions_and_chat() -> None:
    for name, endpoint in (("completions.json", "/v1/completions"), ("chat.json", "/v1/chat/completions")):
        body = (FIXTURES / name).read_bytes()
        out = send_one(reply(200, body), stream=False, endpoint=endpoint)
        assert out.success and out.ttft is None and len(out.itl) == 0 and out.latency > 0
        assert out.prompt_len == 7 and out.output_tokens == (5 if name == "completions.json" else 4)


def test_non_streaming_body_without_choices_or_not_json_is_a_failure() -> None:
    out = send_one(reply(200, b'{"object": "list", "choices": []}'), stream=False)
    assert not out.success and out.status == 200
    assert out.error == 'response without choices: {"object": "list", "choices": []}'
    out = send_one(reply(200, b"<html>gateway</html>"), stream=False)
    assert not out.success and out.error.startswith("JSONDecodeError")


def test_request_carries_bench_body_and_a_traceparent() -> None:
    seen = Seen()

    async def go() -> str:
        async with serve(seen.record(sse([COMPLETIONS]))) as url:
            await _send(url)
            return url
    url = asyncio.run(go())
    ((method, req_url, headers, content),) = seen.requests
    assert method == "POST" and req_url == f"{url}/v1/completions"
    assert headers["Content-Type"] == "application/json"
    assert TRACEPARENT.match(headers["traceparent"])
    assert "Authorization" not in headers
    body = json.loads(content)
    assert list(body) == ["model", "prompt", "repetition_penalty", "max_tokens", "logprobs", "stream",
                          "stream_options", "ignore_eos"]


def test_openai_api_key_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    seen = Seen()
    send_one(seen.record(sse([COMPLETIONS])))
    ((_, _, headers, _),) = seen.requests
    assert headers["Authorization"] == "Bearer sk-test"


def test_traceparents_are_unique() -> None:
    tps = {new_traceparent() for _ in range(10000)}
    assert len(tps) == 10000 and all(TRACEPARENT.match(t) for t in tps)


def test_run_requests_respects_max_concurrency_and_reports_progress() -> None:
    live = peak = 0
    seen = Seen()

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        try:
            await asyncio.sleep(0.01)
        finally:
            live -= 1
        return web.Response(body=COMPLETIONS)

    outcomes, duration, updates = run(seen.record(handler), num_prompts=40, max_concurrency=5)
    assert peak == 5 and duration > 0
    assert len(seen.ports) <= 5                     # the connections are kept alive and reused
    assert [o.index for o in outcomes] == list(range(40)) and all(o.success for o in outcomes)
    assert len({o.traceparent for o in outcomes}) == 40
    assert updates[-1] == Progress(done=40, failed=0, total=40) and len(updates) == 40


def test_run_requests_paces_arrivals_at_the_request_rate() -> None:
    starts: list[float] = []

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        starts.append(asyncio.get_running_loop().time())
        return web.Response(body=COMPLETIONS)
    _, duration, _ = run(handler, num_prompts=10, request_rate=50.0)
    assert starts[-1] - starts[0] > 0.1             # the last arrives at 10/50 = 0.2 s
    # At least the paced 0.2 s (load only lengthens it). The upper bound is about a gross error only
    # (pacing a whole second or more per request: >= 9 s); how exact the pacing is, is `make bench`'s ratio.
    assert duration >= 0.18
    assert_no_hang(duration, 5.0, "arrivals paced a second or more apart instead of 1/50 s")


def test_failures_are_counted_in_progress() -> None:
    outcomes, _, updates = run(reply(500), num_prompts=3)
    assert not any(o.success for o in outcomes)
    assert updates[-1] == Progress(done=3, failed=3, total=3)
    assert outcomes[0].error == "HTTP 500"


def test_stream_kept_open_after_done_still_succeeds() -> None:
    start = time.monotonic()
    out = send_one(sse([COMPLETIONS], hold=30), timeout=20)   # never ends on its own; the drain gives up after 1 s
    assert out.success and out.output_tokens == 3
    assert_no_hang(time.monotonic() - start, 15, "the client waited for the body's end (the 20 s timeout)")


def test_body_end_after_done_is_drained_and_the_connection_reused() -> None:
    # [DONE] and the end of the body in separate reads: the client waits for the end, then reuses
    seen = Seen()
    outcomes, _, _ = run(seen.record(sse([COMPLETIONS], hold=0.05)), num_prompts=3, max_concurrency=1)
    assert all(o.success for o in outcomes) and len(seen.requests) == 3
    assert len(seen.ports) == 1


def test_env_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                 "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("http://10.0.0.5:8123/v1/completions") is None
    monkeypatch.setenv("http_proxy", "http://proxy.test:3128")
    assert env_proxy("http://10.0.0.5:8123/v1/completions") == "http://proxy.test:3128"
    assert env_proxy("https://10.0.0.5:8123/v1/completions") is None
    monkeypatch.setenv("https_proxy", "https://proxy.test:3129")    # aiohttp speaks no TLS to a proxy
    assert env_proxy("https://10.0.0.5:8123/v1/completions") is None
    monkeypatch.setenv("no_proxy", "10.0.0.5")
    assert env_proxy("http://10.0.0.5:8123/v1/completions") is None


def test_requests_go_through_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = Seen()

    async def go():
        async with serve(seen.record(sse([COMPLETIONS]))) as proxy:
            monkeypatch.setenv("http_proxy", proxy)
            monkeypatch.delenv("no_proxy", raising=False)
            monkeypatch.delenv("NO_PROXY", raising=False)
            return await run_requests(config("http://router.test:8123", num_prompts=2))
    outcomes, _ = asyncio.run(go())
    assert all(o.success for o in outcomes)
    assert [r[1] for r in seen.requests] == ["http://router.test:8123/v1/completions"] * 2
