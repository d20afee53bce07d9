"""The NIXL side channel: one TCP listener per local DP engine, and the decode side's handshake.

Real vLLM's NixlConnector listens on `VLLM_NIXL_SIDE_CHANNEL_HOST:(VLLM_NIXL_SIDE_CHANNEL_PORT + dp)`,
dp being the engine's GLOBAL data-parallel rank (vLLM 0.13 nixl_connector.py), so the worker node of a
DP-8 instance with 4 engines per node listens on base+4 .. base+7 (`side_channel_port`). A decode
dials the prefill's `remote_host:remote_port` to fetch its agent metadata before pulling KV blocks.
When that fails, vLLM recomputes the prefill locally and the client never notices. The mock keeps
the dial (so a wrong host, port or engine id fails exactly where it would in production) and reports
the outcome as `kv_check`.

The exchange is one JSON line each way:
    decode -> prefill   {"op": "handshake"}
    prefill -> decode   {"engine_id": "<this engine's id>", "dp_rank": <global rank>, "tp_size": <tp>,
                         "vllm_version": "<the release the mock stands for>"}

A prefill of another vLLM release is refused ("incompatible"), as vLLM's NIXL handshake refuses a peer whose
compatibility hash (release, model, attention backend, KV dtype) differs: a rolling upgrade must never pair
them, and the mock must not be more forgiving than vLLM there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from pydantic import ValidationError

from pdcompose.mock.config import MockConfig
from pdcompose.mock.engine import Engine
from pdcompose.wire.mock import KVCheck
from pdcompose.wire.vllm import KVTransferParams

log = logging.getLogger("pdcompose.mock.nixl")

_READ_TIMEOUT = 2.0


class StartupError(RuntimeError):
    """A listener this process needs could not be opened; it exits non-zero like vLLM would."""


async def start_listeners(config: MockConfig, engines: list[Engine],
                          release: str | None = None) -> list[asyncio.Server]:
    """Open every local engine's side channel, or close those opened and raise StartupError."""
    servers: list[asyncio.Server] = []
    for engine in engines:
        port = side_channel_port(config, engine)
        hello = json.dumps({"engine_id": engine.engine_id, "dp_rank": engine.global_rank,
                            "tp_size": config.tensor_parallel_size, "vllm_version": release}).encode() + b"\n"
        try:
            server = await asyncio.start_server(_answerer(hello), config.side_channel_host, port)
        except OSError as exc:
            for opened in servers:
                opened.close()
            raise StartupError(f"NIXL side channel of DP rank {engine.global_rank} cannot listen on "
                               f"{config.side_channel_host}:{port}: {exc.strerror or exc}") from None
        servers.append(server)
        log.info("NIXL side channel for engine %s listening on %s:%d", engine.engine_id,
                 config.side_channel_host, port)
    return servers


def side_channel_port(config: MockConfig, engine: Engine) -> int:
    """Where an engine's side channel listens, and the remote_port its kv_transfer_params advertise."""
    return config.side_channel_port + engine.global_rank


def _answerer(hello: bytes):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readline(), _READ_TIMEOUT)
            writer.write(hello)
            await writer.drain()
        except OSError:                     # TimeoutError included
            pass
        finally:
            writer.close()
    return answer


class KVChecker:
    """Checks decode-side kv_transfer_params by dialling the prefill's side channel.

    Every check dials (the handshake stands for the KV read too: both cross the network to the prefill's
    host), so a prefill that became unreachable after its first handshake fails the next pull, as a
    partition does to real NIXL; a restarted prefill is recognised by its new engine id, and a wrong id
    reads as a mismatch. Concurrent dials to one address share a single round trip.
    """

    def __init__(self, timeout: float, release: str | None = None) -> None:
        self._timeout = timeout
        self._release = release
        self._known: dict[tuple[str, int], str] = {}
        self._inflight: dict[tuple[str, int], asyncio.Future[tuple[str, str | None] | None]] = {}

    async def check(self, raw: Any) -> KVCheck:
        if raw is None:
            return "no_params"
        params = _well_formed(raw)
        if params is None:
            return "malformed"
        assert params.remote_host is not None and params.remote_port is not None   # checked by _well_formed
        key = (params.remote_host, params.remote_port)
        # Every pull crosses the network, not only the first: real NIXL reads the blocks from the prefill's
        # host for each request, so a decode cut off from it after the handshake fails its next pull.
        answer = await self._dial_once(key)
        if answer is None:
            return "unreachable"
        engine_id, release = answer
        if release is not None and self._release is not None and release != self._release:
            return "incompatible"
        return "ok" if engine_id == params.remote_engine_id else "engine_mismatch"

    async def _dial_once(self, key: tuple[str, int]) -> tuple[str, str | None] | None:
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._dial(key))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    async def _dial(self, key: tuple[str, int]) -> tuple[str, str | None] | None:
        try:
            answer = await asyncio.wait_for(_handshake(*key), self._timeout)
        except (OSError, ValueError):       # refused, timed out (an OSError), or a garbled answer
            return None
        self._known[key] = answer[0]
        return answer


async def _handshake(host: str, port: int) -> tuple[str, str | None]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b'{"op":"handshake"}\n')
        await writer.drain()
        answer = json.loads(await reader.readline())
        engine_id = answer.get("engine_id") if isinstance(answer, dict) else None
        if not isinstance(engine_id, str):
            raise ValueError(f"bad side-channel answer from {host}:{port}")
        release = answer.get("vllm_version")
        return engine_id, release if isinstance(release, str) else None
    finally:
        writer.close()


def _well_formed(raw: Any) -> KVTransferParams | None:
    """Params a NIXL decode could act on: a remote prefill with engine, address and blocks."""
    if not isinstance(raw, dict):
        return None
    try:
        params = KVTransferParams.model_validate(raw)
    except ValidationError:
        return None
    required = (params.remote_engine_id, params.remote_host, params.remote_port, params.remote_block_ids)
    if params.do_remote_prefill is not True or any(value is None for value in required):
        return None
    if params.remote_port is None or not 0 < params.remote_port < 65536:
        return None
    return params
