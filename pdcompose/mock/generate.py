"""POST /v1/completions and /v1/chat/completions: the prefill and decode roles of a PD worker.

Prefill (`kv_transfer_params.do_remote_decode == true`): pay the prefill cost, answer one token and
the NIXL `kv_transfer_params` the decode will need. Decode (anything else): check the params through
the side channel, pay the prefill cost again when that check failed (real vLLM silently recomputes),
then generate `max_tokens` tokens, streamed per `--stream-interval`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from packaging.specifiers import SpecifierSet

from pdcompose.mock import responses as r
from pdcompose.mock.body import ApiError, GenerateRequest, Kind, parse_generate
from pdcompose.mock.engine import Engine, RankError, simulate
from pdcompose.mock.kvfail import ENGINE_DEAD, KV_LOAD_FAILURES, kv_load_failed
from pdcompose.mock.runtime import Runtime
from pdcompose.mock.sidechannel import side_channel_port
from pdcompose.mock.stats import RequestMeta, request_meta
from pdcompose.mock.tokens import block_count, words

FLAT_BLOCK_IDS = SpecifierSet("<0.14")
UNAUTHORIZED = r.dumps({"error": "Unauthorized"})       # vLLM's AuthenticationMiddleware body


async def generate(rt: Runtime, request: Request, kind: Kind) -> Response:
    meta = request_meta(request.scope["path"], request.headers)
    if not rt.authorized(request.headers.get("authorization")):
        rt.stats.add(meta, status=401)
        return Response(UNAUTHORIZED, 401, media_type="application/json")
    if rt.dead:                         # vLLM's EngineDeadError: every request fails until a restart
        return _rejected(rt, meta, ApiError(*ENGINE_DEAD))
    try:
        if not rt.ready:
            raise ApiError(503, "The model is still loading.", "ServiceUnavailableError")
        req = parse_generate(await request.body(), request.headers.get("content-type"), kind,
                             rt.config.served_model_names, rt.config.max_model_len)
        engine = rt.pool.pick(meta.rank_header)
    except RankError as exc:
        return _rejected(rt, meta, ApiError(400, str(exc)))
    except ApiError as exc:
        return _rejected(rt, meta, exc)
    reply = r.new_reply(kind, meta.request_id, rt.config.served_model_name)
    if req.role == "prefill":
        return await _prefill(rt, meta, req, engine, reply)
    return await _decode(rt, meta, req, engine, reply)


def error_response(exc: ApiError) -> Response:
    return r.error_response(exc.status, exc.message, exc.kind)


def _rejected(rt: Runtime, meta: RequestMeta, exc: ApiError) -> Response:
    rt.stats.add(meta, status=exc.status)
    return error_response(exc)


async def _prefill(rt: Runtime, meta: RequestMeta, req: GenerateRequest, engine: Engine,
                   reply: r.Reply) -> Response:
    t0 = time.monotonic()
    async with engine.slot(block_count(req.prompt_tokens)):
        await simulate(rt.knobs.prefill_seconds(req.prompt_tokens))
    engine.latencies.ttft.observe(time.monotonic() - t0)     # the prefill's one token is its first
    engine.latencies.e2e.observe(time.monotonic() - t0)
    params = _kv_transfer_params(rt, engine, reply, req.prompt_tokens)
    engine.prompt_tokens_total += req.prompt_tokens
    engine.generation_tokens_total += 1
    record = rt.stats.add(meta, status=200, role="prefill", engine=engine, stream=req.stream,
                          prompt_tokens=req.prompt_tokens, kv_transfer_params=params)
    record["completion_tokens"] = 1
    # cached_tokens makes the router take its cached-token rewrite path (protocol notes, 3.4)
    body = r.full_body(reply, words(0, 1), req.prompt_tokens, 1, kv_transfer_params=params, cached_tokens=0)
    return Response(body, media_type="application/json")


def _kv_transfer_params(rt: Runtime, engine: Engine, reply: r.Reply, prompt_tokens: int) -> dict[str, Any]:
    """NixlConnectorScheduler.request_finished's dict. remote_block_ids is one flat list up to vLLM 0.13
    (observed on the real 0.13.0 engine: the scheduler passes block_ids[0] to a connector without HMA) and
    one list per KV-cache group where NIXL supports HMA (0.32.0's NixlBaseConnector)."""
    cfg = rt.config
    blocks = engine.allocate_blocks(prompt_tokens)
    return {
        "do_remote_prefill": True, "do_remote_decode": False,
        "remote_block_ids": blocks if rt.catalog.version in FLAT_BLOCK_IDS else [blocks],
        "remote_engine_id": engine.engine_id, "remote_request_id": reply.internal_id,
        "remote_host": cfg.side_channel_host, "remote_port": side_channel_port(cfg, engine),
        "tp_size": cfg.tensor_parallel_size,
    }


async def _decode(rt: Runtime, meta: RequestMeta, req: GenerateRequest, engine: Engine,
                  reply: r.Reply) -> Response:
    t0 = time.monotonic()
    kv_check = await rt.kv.check(req.kv_transfer_params)
    if req.kv_transfer_params is not None:      # a NIXL pull was attempted: vLLM's decode-side metrics
        engine.latencies.nixl_seen = True
        if kv_check == "ok":
            engine.latencies.nixl_xfer.observe(time.monotonic() - t0)
        else:
            engine.latencies.nixl_failed_transfers += 1
    record = rt.stats.add(meta, status=200, role="decode", engine=engine, stream=req.stream,
                          prompt_tokens=req.prompt_tokens, kv_transfer_params=req.kv_transfer_params,
                          kv_check=kv_check)
    if kv_check in KV_LOAD_FAILURES:
        failed = kv_load_failed(rt, req, reply, record)
        if failed is not None:
            return failed
    run = _DecodeRun(rt, engine, req, reply, record, recompute=kv_check != "ok", t0=t0)
    if req.stream:
        return StreamingResponse(run.frames(), media_type="text/event-stream")
    return Response(await run.whole(), media_type="application/json")


class _DecodeRun:
    def __init__(self, rt: Runtime, engine: Engine, req: GenerateRequest, reply: r.Reply,
                 record: dict[str, Any], *, recompute: bool, t0: float) -> None:
        self.rt, self.engine, self.req, self.reply, self.record = rt, engine, req, reply, record
        self.t0 = t0
        self.recompute = recompute
        self.blocks = block_count(req.prompt_tokens + req.max_tokens)

    async def _start(self) -> None:
        if self.recompute:
            await simulate(self.rt.knobs.prefill_seconds(self.req.prompt_tokens))
        self.engine.prompt_tokens_total += self.req.prompt_tokens

    def _count(self, tokens: int) -> None:
        self.record["completion_tokens"] += tokens
        self.engine.generation_tokens_total += tokens

    async def whole(self) -> bytes:
        n = self.req.max_tokens
        async with self.engine.slot(self.blocks):
            await self._start()
            started = time.monotonic()
            await simulate(self.rt.knobs.decode_seconds(n))
            self._count(n)
        lat, now = self.engine.latencies, time.monotonic()
        lat.ttft.observe(started - self.t0)
        if n > 1:
            lat.itl.observe((now - started) / n, n - 1)
        lat.e2e.observe(now - self.t0)
        return r.full_body(self.reply, words(0, n), self.req.prompt_tokens, n)

    def _running_usage(self, sent: int) -> dict | None:
        if not self.req.continuous_usage:
            return None
        return r.usage(self.req.prompt_tokens, sent, with_details=self.req.kind == "completion")

    async def frames(self) -> AsyncIterator[bytes]:
        req, reply, knobs = self.req, self.reply, self.rt.knobs
        async with self.engine.slot(self.blocks):
            await self._start()
            if req.kind == "chat":
                yield r.role_frame(reply, self._running_usage(0))
            sent, lat = 0, self.engine.latencies
            for size in r.chunk_sizes(req.max_tokens, self.rt.config.stream_interval):
                before = time.monotonic()
                await simulate(knobs.decode_seconds(size))
                text = words(sent, size)
                if sent == 0:
                    lat.ttft.observe(time.monotonic() - self.t0)
                    if size > 1:
                        lat.itl.observe((time.monotonic() - before) / size, size - 1)
                else:
                    lat.itl.observe((time.monotonic() - before) / size, size)
                sent += size
                self._count(size)
                yield r.token_frame(reply, text, sent == req.max_tokens, self._running_usage(sent))
            lat.e2e.observe(time.monotonic() - self.t0)
        if req.include_usage:
            yield r.usage_frame(reply, req.prompt_tokens, req.max_tokens)
        yield r.DONE
