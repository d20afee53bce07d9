"""Response bodies and SSE frames, field for field as vLLM's OpenAI server emits them.

Shapes follow the protocol notes (sections 5, 6.4, Appendix B) and vLLM's serializers: completion
chunks are dumped with `exclude_unset=False` (so `"usage":null` is present), chat chunks with
`exclude_unset=True` (no `usage` key, `stop_reason` only on the last chunk), and the final usage frame
with `exclude_none=True`. JSON is compact like pydantic's `model_dump_json`.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Response

from pdcompose.mock.body import Kind

DONE = b"data: [DONE]\n\n"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


_SLOT = "\u0000text\u0000"           # stands for a frame's text in its template; no real text has it
_SLOT_JSON = dumps(_SLOT)


def error_body(status: int, message: str, kind: str) -> bytes:
    """vLLM 0.13.0's ErrorResponse (entrypoints/openai/protocol.py): the fields under "error", as its
    JSONResponse dumps them (compact). Older vLLM had them flat, with "object": "error"."""
    return dumps(_error(status, message, kind))


def error_response(status: int, message: str, kind: str) -> Response:
    return Response(error_body(status, message, kind), status, media_type="application/json")


def _error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def error_frame(status: int, message: str, kind: str) -> bytes:
    """An error inside a stream: vLLM's create_streaming_error_response is json.dumps with its default
    separators (", " and ": "), unlike every other frame."""
    return b"data: " + json.dumps(_error(status, message, kind)).encode() + b"\n\n"


@dataclass(frozen=True)
class Reply:
    """The identity every body and frame of one response shares."""

    kind: Kind
    id: str
    created: int
    model: str

    @property
    def internal_id(self) -> str:
        """vLLM's engine request id (what NIXL reports as remote_request_id): `cmpl-<id>-0` per prompt."""
        return f"{self.id}-0" if self.kind == "completion" else self.id

    def head(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    @functools.cached_property
    def token_templates(self) -> dict[bool, tuple[bytes, bytes]]:
        """(before, after) the text of a token frame, keyed by "is last"; see token_frame."""
        templates = {}
        for last in (False, True):
            before, _, after = _token_frame(self, _SLOT, last, None).partition(_SLOT_JSON)
            templates[last] = (before, after)
        return templates


def new_reply(kind: Kind, request_id: str | None, model: str) -> Reply:
    # vLLM adopts X-Request-Id as its request id, so both PD legs answer with the same id
    prefix = "chatcmpl-" if kind == "chat" else "cmpl-"
    return Reply(kind, prefix + (request_id or uuid.uuid4().hex), int(time.time()), model)


def usage(prompt_tokens: int, completion_tokens: int, details: Any = None, *,
          with_details: bool = True) -> dict[str, Any]:
    body = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens": completion_tokens}
    if with_details:
        body["prompt_tokens_details"] = details
    return body


def full_body(reply: Reply, text: str, prompt_tokens: int, completion_tokens: int, *,
              kv_transfer_params: dict | None = None, cached_tokens: int | None = None) -> bytes:
    """A non-streaming response; `finish_reason` is "length" because the mock always fills max_tokens."""
    details = None if cached_tokens is None else {"cached_tokens": cached_tokens}
    used = usage(prompt_tokens, completion_tokens, details)
    if reply.kind == "completion":
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length",
                  "stop_reason": None, "prompt_logprobs": None}
        body = {**reply.head("text_completion"), "choices": [choice], "usage": used}
    else:
        message: dict[str, Any] = {"role": "assistant", "content": text, "reasoning_content": None, "tool_calls": []}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "length",
                  "stop_reason": None}
        body = {**reply.head("chat.completion"), "choices": [choice], "usage": used, "prompt_logprobs": None}
    body["kv_transfer_params"] = kv_transfer_params
    return dumps(body)


def _frame(obj: dict[str, Any]) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def role_frame(reply: Reply, running_usage: dict | None = None) -> bytes:
    """vLLM's first chat chunk: an empty assistant delta before any token."""
    delta = {"role": "assistant", "content": ""}
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    chunk = {**reply.head("chat.completion.chunk"), "choices": [choice]}
    if running_usage is not None:
        chunk["usage"] = running_usage
    return _frame(chunk)


def token_frame(reply: Reply, text: str, last: bool, running_usage: dict | None = None) -> bytes:
    """One frame per `--stream-interval` tokens. This is the hot path (one call per frame of every
    stream), so the frame around the text is serialised once per response and reused."""
    if running_usage is not None:
        return _token_frame(reply, text, last, running_usage)
    before, after = reply.token_templates[last]
    return before + dumps(text) + after


def _token_frame(reply: Reply, text: str, last: bool, running_usage: dict | None) -> bytes:
    finish = "length" if last else None
    if reply.kind == "completion":
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish, "stop_reason": None}
        return _frame({**reply.head("text_completion"), "choices": [choice], "usage": running_usage})
    choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": finish}
    if last:
        choice["stop_reason"] = None
    chunk = {**reply.head("chat.completion.chunk"), "choices": [choice]}
    if running_usage is not None:
        chunk["usage"] = running_usage
    return _frame(chunk)


def usage_frame(reply: Reply, prompt_tokens: int, completion_tokens: int) -> bytes:
    """The final frame with `"choices": []`, sent only with stream_options.include_usage."""
    obj = "text_completion" if reply.kind == "completion" else "chat.completion.chunk"
    used = usage(prompt_tokens, completion_tokens, with_details=False)
    return _frame({**reply.head(obj), "choices": [], "usage": used})


def chunk_sizes(total: int, interval: int) -> list[int]:
    """Tokens per frame under `--stream-interval N`: the first alone, then N at a time, then the rest."""
    if total <= 0:
        return []
    sizes = [1]
    left = total - 1
    while left > 0:
        sizes.append(min(interval, left))
        left -= sizes[-1]
    return sizes
