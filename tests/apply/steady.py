"""Steady load through the router while something changes: `concurrency` streams, each sending one
streaming completion after another (bench's request shape, judged like bench: HTTP 200, at least one token
frame, then [DONE]), until stopped. Every request is recorded, so a test can say what failed and when."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx

from pdcompose.bench.sse import DONE, payloads, token_chunk


@dataclass(frozen=True)
class Outcome:
    start: float                   # seconds since the load began
    end: float
    status: int | None
    error: str | None              # None: a complete stream

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Load:
    url: str                       # the router's base URL
    model: str
    concurrency: int = 16
    max_tokens: int = 16
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0

    def __enter__(self) -> Load:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=60)

    def now(self) -> float:
        return time.monotonic() - self._t0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        errors = sorted({(o.status, (o.error or "")[:120]) for o in self.failed})
        return f"{len(self.outcomes)} requests, {len(self.failed)} failed" + (f": {errors[:5]}" if errors else "")

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0), limits=limits) as http:
            await asyncio.gather(*(self._stream(http, i) for i in range(self.concurrency)))

    async def _stream(self, http: httpx.AsyncClient, index: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            self.outcomes.append(await self._one(http, f"steady load {index} {n}"))

    async def _one(self, http: httpx.AsyncClient, prompt: str) -> Outcome:
        body = {"model": self.model, "prompt": prompt, "max_tokens": self.max_tokens, "stream": True,
                "ignore_eos": True, "stream_options": {"include_usage": True}}
        start, status, error = self.now(), None, None
        try:
            async with http.stream("POST", f"{self.url}/v1/completions", json=body) as resp:
                status = resp.status_code
                raw = await resp.aread()
            frames = payloads(raw)
            if status != 200:
                error = raw[:200].decode(errors="replace")
            elif not any(token_chunk(p) for p in frames) or DONE not in frames:
                error = f"incomplete stream: {raw[-200:].decode(errors='replace')}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        return Outcome(start, self.now(), status, error)
