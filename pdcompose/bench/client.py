"""Send the workload: one shared aiohttp.ClientSession, a semaphore for max concurrency, bench's stream rules.

aiohttp is what `vllm bench serve` sends with (vllm/benchmarks/lib/endpoint_request_func.py). The client
must not be what limits a benchmark: at 256 concurrent streams against one zero-cost mock (4000 requests
of 16 tokens, 2 cores) this client spent ~1.8 s of CPU to the mock's ~2.8 s, where httpx's default
transport (httpcore) had spent about 6x the mock's. aiohttp is imported only when a run starts, so
`import pdcompose.bench` and `pdcompose --help` stay fast.

Every request carries a fresh W3C `traceparent`. The router copies it to both the prefill and the
decode worker, so the mock workers' records can prove that each request reached exactly one of each
(see pairing.py). Timing follows bench: `perf_counter()` when the request is sent, at each token frame,
and the latency ends at the last token frame (not at `[DONE]`); as in bench, the role-only first chunk
of a chat stream counts as the first token. No request failure raises: it becomes a `RequestOutcome`
with `success=False` and a short error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pdcompose.bench.sse import DONE, SSEDecoder, parse_frame, token_chunk
from pdcompose.bench.stats import RequestOutcome
from pdcompose.bench.workload import BenchConfig, Workload, arrival_offsets

if TYPE_CHECKING:
    import aiohttp

DRAIN_GRACE = 1.0          # seconds allowed for the end of a body after its [DONE]
ERROR_EXCERPT = 200        # characters of an error body or message kept per failed request
KEEPALIVE_EXPIRY = 4.0     # below uvicorn's (vLLM's) 5 s keep-alive timeout: no reuse of a closing socket
_BODY_READ_CAP = 4096


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    failed: int
    total: int
    output_tokens: int = field(default=0, compare=False)   # of the successful requests so far


ProgressCallback = Callable[[Progress], None]


def new_traceparent() -> str:
    """`00-<32 hex trace id>-<16 hex span id>-01`, random (all-zero ids are invalid, and 2**-64 unlikely)."""
    h = os.urandom(24).hex()
    return f"00-{h[:32]}-{h[32:]}-01"


def env_proxy(url: str) -> str | None:
    """The proxy that the environment (`http_proxy`, `https_proxy`, `no_proxy`) names for `url`, if any.

    Resolved once per run: aiohttp's `trust_env=True` would look it up, and read ~/.netrc, in a worker
    thread on every request. Like aiohttp, only http:// proxies are used.
    """
    import urllib.request

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or not proxy.startswith("http://") or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def make_session(config: BenchConfig) -> aiohttp.ClientSession:
    """The run's one session (create it inside the running loop): at most `max_concurrency` connections
    (no limit without one, as bench's connector), kept alive between requests, `config.timeout` per
    request from connect to last byte."""
    import aiohttp

    headers = {"content-type": "application/json"}
    if api_key := client_key(config) or os.environ.get("OPENAI_API_KEY"):     # bench does the same
        headers["authorization"] = f"Bearer {api_key}"
    connector = aiohttp.TCPConnector(limit=config.max_concurrency or 0, keepalive_timeout=KEEPALIVE_EXPIRY,
                                     ssl=ssl_context(config) if config.base_url.startswith("https://") else False)
    return aiohttp.ClientSession(connector=connector, headers=headers,
                                 timeout=aiohttp.ClientTimeout(total=config.timeout))


def client_key(config: BenchConfig) -> str | None:
    """The first client key in `config.key_env` (keys separated by commas or whitespace, as the entry reads them)."""
    if not config.key_env:
        return None
    keys = os.environ.get(config.key_env, "").replace(",", " ").split()
    return keys[0] if keys else None


def ssl_context(config: BenchConfig) -> ssl.SSLContext:
    """Checks the server's certificate: against `config.ca_file` when given, else the system's trust store."""
    return ssl.create_default_context(cafile=config.ca_file)


class _Stream:
    """Per-request stream state; `payload()` is the only per-frame work."""

    __slots__ = ("out", "last", "chunks", "done", "usage", "error")

    def __init__(self, out: RequestOutcome) -> None:
        self.out, self.last, self.chunks = out, out.start, 0
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.error: str | None = None

    def payload(self, p: bytes) -> None:
        if p == DONE:
            self.done = True
            return
        tok = token_chunk(p)
        if tok is not True:
            frame = parse_frame(p)
            if not frame.token:
                if frame.usage is not None:
                    self.usage = frame.usage
                if frame.error is not None:
                    self.error = frame.error
                return
        now = time.perf_counter()
        if self.chunks:
            self.out.itl.append(now - self.last)
        else:
            self.out.ttft = now - self.out.start
        self.last = now
        self.chunks += 1


async def _read_stream(resp: aiohttp.ClientResponse, out: RequestOutcome) -> None:
    st, dec = _Stream(out), SSEDecoder()
    chunks = resp.content.iter_any()         # one network read (or what has piled up since) per chunk
    async for data in chunks:
        for p in dec.feed(data):
            st.payload(p)
            if st.done:
                break
        if st.done:
            break
    else:
        for p in dec.flush():
            st.payload(p)
    if not st.chunks:
        out.error = _cut(st.error or "stream ended without a token chunk")
        return
    out.success, out.latency = True, st.last - out.start
    _apply_usage(out, st.usage, fallback=st.chunks)
    if st.done and not resp.content.at_eof():
        # The outcome is settled. Read the end of the body (it follows [DONE] at once) so that the
        # connection can be reused; a server that keeps the stream open only loses the connection.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DRAIN_GRACE):
                async for _ in chunks:
                    pass


async def _read_json(resp: aiohttp.ClientResponse, out: RequestOutcome) -> None:
    raw = await resp.read()
    out.latency = time.perf_counter() - out.start
    data = json.loads(raw)
    if not isinstance(data, dict) or not data.get("choices"):
        out.error = _cut("response without choices: " + raw.decode("utf-8", "replace"))
        return
    out.success = True
    usage = data.get("usage")
    _apply_usage(out, usage if isinstance(usage, dict) else None, fallback=0)


def _apply_usage(out: RequestOutcome, usage: dict | None, *, fallback: int) -> None:
    if usage is None or usage.get("completion_tokens") is None:
        out.output_tokens = fallback
        return
    out.usage_reported = True
    out.output_tokens = int(usage["completion_tokens"])
    if (pt := usage.get("prompt_tokens")) is not None:
        out.prompt_len = int(pt)


async def _excerpt(resp: aiohttp.ClientResponse) -> str:
    buf = b""
    async for data in resp.content.iter_any():
        buf += data
        if len(buf) >= _BODY_READ_CAP:
            break
    return _cut(buf.decode("utf-8", "replace"))


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_EXCERPT else text[:ERROR_EXCERPT - 3] + "..."


def _describe(exc: Exception) -> str:
    """A failed connect as `ConnectError: host:port: reason` (aiohttp's own message is longer and says
    less); anything else as `Type: message`."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(exc, aiohttp.ClientSSLError):
        err = exc.os_error
        if err.errno and err.errno > 0 and not isinstance(err, socket.gaierror):
            reason = os.strerror(err.errno)         # asyncio's own strerror is "Connect call failed (...)"
        else:
            reason = err.strerror or str(err) or type(err).__name__
        return _cut(f"ConnectError: {exc.host}:{exc.port}: {reason}")
    return _cut(f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))


async def send_request(session: aiohttp.ClientSession, workload: Workload, index: int, *,
                       proxy: str | None = None) -> RequestOutcome:
    config = workload.config
    spec = workload.request(index)
    body = json.dumps(workload.body(spec)).encode()
    out = RequestOutcome(index=index, traceparent=new_traceparent(), prompt_len=spec.prompt_len)
    out.start = time.perf_counter()
    try:
        # the session's total timeout covers the request from connect to the end of the drain
        async with session.post(config.url, data=body, headers={"traceparent": out.traceparent},
                                proxy=proxy) as resp:
            out.status = resp.status
            if resp.status != 200:
                excerpt = await _excerpt(resp)
                out.error = _cut(f"HTTP {resp.status}" + (f": {excerpt}" if excerpt else ""))
            elif config.stream:
                await _read_stream(resp, out)
            else:
                await _read_json(resp, out)
    except TimeoutError:
        out.success, out.error = False, f"timeout: no complete response within {config.timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - every failure is data, as in bench
        out.success, out.error = False, _describe(exc)
    return out


async def run_requests(config: BenchConfig, *, progress: ProgressCallback | None = None,
                       ) -> tuple[list[RequestOutcome], float]:
    """Send every request of the workload; return the outcomes (in request order) and the duration."""
    workload = Workload(config)
    arrivals = arrival_offsets(config.num_prompts, config.request_rate, config.seed)
    sem = asyncio.Semaphore(config.max_concurrency) if config.max_concurrency else None
    proxy = env_proxy(config.url)
    done = failed = tokens = 0
    total = config.num_prompts

    async with make_session(config) as session:

        async def one(i: int) -> RequestOutcome:
            nonlocal done, failed, tokens
            if sem is None:
                out = await send_request(session, workload, i, proxy=proxy)
            else:
                async with sem:
                    out = await send_request(session, workload, i, proxy=proxy)
            done += 1
            failed += not out.success
            tokens += out.output_tokens if out.success else 0
            if progress is not None:
                progress(Progress(done, failed, total, tokens))
            return out

        start = time.perf_counter()
        tasks = []
        for i, at in enumerate(arrivals):
            if at > 0 and (delay := start + at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        outcomes = await asyncio.gather(*tasks)
        duration = time.perf_counter() - start
    return list(outcomes), duration
