"""In-process HTTP servers on 127.0.0.1 (ephemeral ports) whose handlers write hand-made responses: what the
bench client is tested against (test_bench_client.py) and timed against (benchmarks/timeouts.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import RawTestServer

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 (ephemeral port) for the duration; yields its base URL."""
    server = RawTestServer(handler, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


def sse(chunks: list[bytes], gap: float = 0.0, status: int = 200, hold: float = 0.0) -> Handler:
    """Write `chunks` one by one (each its own HTTP chunk, `gap` seconds apart), wait `hold` seconds,
    then end the body."""
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for c in chunks:
            if gap:
                await asyncio.sleep(gap)
            await resp.write(c)
        if hold:
            await asyncio.sleep(hold)
        await resp.write_eof()
        return resp
    return handler
