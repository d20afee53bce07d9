"""A decode whose KV cannot be pulled (the prefill's side channel unreachable, or another engine there).

What vLLM does depends on the release, and was observed rather than assumed:

- vLLM 0.13.0 (observed with the real CPU engine, kv_load_failure_policy "fail"): the failed NIXL
  handshake puts the request among the finished receives, and the worker then looks up that remote
  engine's block size, which no handshake ever recorded: `KeyError` in
  nixl_connector.py get_finished -> kv_topo.block_size_ratio_from_engine_id, "EngineCore encountered a
  fatal error". The request and every later one get HTTP 500 `{"error": {"message": "EngineCore
  encountered an issue. See stack trace (above) for the root cause.", "type": "Internal Server Error",
  ...}}` and /health turns 503 until the node restarts. The code path does not read the policy, so
  "recompute" dies the same way. On the rehearsed DP-4 decode the first answer was always that 500;
  after it, one run found the API server still up (500s, /health 503), another already gone (the next
  connection dropped, /health refused): the server goes down some time after its engine. The mock
  stays in the first state. tests/e2e/test_real_engine.py compares this with the mock.
  PDCOMPOSE_MOCK_SURVIVE_KV_FAILURE=1 keeps the mock's engine alive (then the policy decides), for tests
  of something else.
- other releases (read from vLLM's source, not observed): policy "recompute" recomputes the prefill on
  the decode (the client never notices); "fail" finishes the request with FINISHED_ERROR and the server
  answers 500 "Internal server error" (serving_engine.py _raise_if_error), or an error frame in a stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import Response
from fastapi.responses import StreamingResponse
from packaging.specifiers import SpecifierSet

from pdcompose.mock import responses as r

if TYPE_CHECKING:
    from pdcompose.mock.body import GenerateRequest
    from pdcompose.mock.runtime import Runtime

log = logging.getLogger("pdcompose.mock.nixl")

# The checks that mean NIXL tried to pull and could not (see sidechannel.KVChecker).
KV_LOAD_FAILURES = ("unreachable", "engine_mismatch", "incompatible")
ENGINE_DEAD = (500, "EngineCore encountered an issue. See stack trace (above) for the root cause.",
               "Internal Server Error")
GENERATION_ERROR = (500, "Internal server error", "InternalServerError")
# The releases whose decode engine dies on a failed pull (observed on 0.13.0; 0.32.0's NIXL worker handles
# failed receives apart, and 0.11.2 was not checked).
ENGINE_DIES = SpecifierSet(">=0.13,<0.14")


def kv_load_failed(rt: Runtime, req: GenerateRequest, reply: r.Reply, record: dict[str, Any]) -> Response | None:
    """The answer to a decode whose pull failed, or None when vLLM recomputes and answers normally."""
    if rt.config.kv_connector is None:
        return None                     # no connector: vLLM pulls nothing, the params are only carried
    if rt.catalog.version in ENGINE_DIES and not rt.knobs.survive_kv_failure:
        _die(rt, req)
        # in a stream the EngineDeadError reaches the generator's catch-all: create_streaming_error_response's
        # defaults (BadRequestError, 400), before any chunk
        return _failed(rt, req, reply, record, ENGINE_DEAD, stream_error=(400, ENGINE_DEAD[1], "BadRequestError"),
                       role_first=False)
    if rt.config.kv_load_failure_policy == "fail":
        # the errored output is a first output: a chat stream has sent its role chunk already
        return _failed(rt, req, reply, record, GENERATION_ERROR, stream_error=GENERATION_ERROR, role_first=True)
    return None


def _die(rt: Runtime, req: GenerateRequest) -> None:
    params = req.kv_transfer_params if isinstance(req.kv_transfer_params, dict) else {}
    stamp = time.strftime("%m-%d %H:%M:%S")
    print(f"ERROR {stamp} [core.py:868] EngineCore encountered a fatal error.\n"
          f"ERROR {stamp} [core.py:868] KeyError: {params.get('remote_engine_id')!r}", flush=True)
    rt.dead = True


def _failed(rt: Runtime, req: GenerateRequest, reply: r.Reply, record: dict[str, Any],
            error: tuple[int, str, str], *, stream_error: tuple[int, str, str], role_first: bool) -> Response:
    """Non-streaming: the error as the response. Streaming (read from the source, not observed): the stream
    has begun, so the error is a frame (vLLM's completion_stream_generator) and then [DONE]."""
    record["status"] = error[0]
    rt.stats.errors += 1
    if not req.stream:
        return r.error_response(*error)

    async def frames() -> AsyncIterator[bytes]:
        if req.kind == "chat" and role_first:
            yield r.role_frame(reply)
        yield r.error_frame(*stream_error)
        yield r.DONE
    return StreamingResponse(frames(), media_type="text/event-stream")
