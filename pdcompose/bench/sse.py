"""Server-sent events as `vllm bench serve` reads them (`StreamedResponseHandler` and the loop around it).

Bench splits the byte stream on blank lines, skips `:` comment lines, strips `data: `, stops caring at
`[DONE]`, and calls a frame with a non-empty `choices` list a token. This module does the same with less
work per frame, because at hundreds of concurrent streams the client must not be the bottleneck:

- frames are split as bytes (a UTF-8 multi-byte sequence never contains a newline byte), so nothing
  is decoded unless it is parsed;
- a token frame is recognised by looking at the bytes after its `"choices"` key, without parsing the
  JSON; only the usage frame, and anything unusual, goes through `json.loads`.

Bench's one heuristic is replaced: it emits a trailing frame that lacks its blank line as soon as the
frame parses as JSON (testing every partial buffer); here such a frame is emitted at end of stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DONE = b"[DONE]"
_CHOICES = b'"choices"'
_SPACE = b" \t\r\n"
_SPACE_COLON = b" \t\r\n:"


class SSEDecoder:
    """Bytes in, complete `data` payloads out (prefix stripped, comments and empty frames dropped)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:       # CRLF framing is legal SSE (vLLM sends LF); a lone CR waits for its LF
            buf = buf.replace(b"\r\n", b"\n")
        if b"\n\n" not in buf:
            self._buf = buf
            return []
        *frames, self._buf = buf.split(b"\n\n")
        return [p for f in frames if (p := _payload(f)) is not None]

    def flush(self) -> list[bytes]:
        """The frame left when the stream ended without a final blank line, if any."""
        rest, self._buf = self._buf, b""
        p = _payload(rest)
        return [] if p is None else [p]


def payloads(body: bytes | str) -> list[bytes]:
    """Every `data` payload of a whole SSE body, `[DONE]` included (a recorded response, read at once)."""
    decoder = SSEDecoder()
    return decoder.feed(body.encode() if isinstance(body, str) else body) + decoder.flush()


def _payload(frame: bytes) -> bytes | None:
    frame = frame.strip()
    if not frame or frame.startswith(b":"):
        return None
    if frame.startswith(b"data:"):
        frame = frame[6:] if frame.startswith(b"data: ") else frame[5:]
    return frame


def token_chunk(payload: bytes) -> bool | None:
    """True for a frame with a non-empty `choices` list, False for an empty or null one, None when the
    bytes alone do not tell (then parse the JSON).

    Inside a JSON string every quote is escaped, so an unescaped `"choices"` can only be a key; in an
    OpenAI chunk the first such key is the top-level one.
    """
    i = payload.find(_CHOICES)
    if i < 0:
        return None
    j, n = i + len(_CHOICES), len(payload)
    while j < n and payload[j] in _SPACE_COLON:
        j += 1
    if j >= n:
        return None
    c = payload[j]
    if c == 0x6E:                      # n(ull)
        return False
    if c != 0x5B:                      # not '['
        return None
    j += 1
    while j < n and payload[j] in _SPACE:
        j += 1
    if j >= n:
        return None
    return payload[j] != 0x5D          # ']' -> empty list


@dataclass(slots=True)
class Frame:
    """A parsed frame that is not a plain token chunk (usage, an error, or something unexpected)."""

    token: bool
    usage: dict[str, Any] | None = None
    error: str | None = None


def parse_frame(payload: bytes) -> Frame:
    """Slow path: parse the JSON (raises ValueError when it is not JSON, as bench's json.loads does)."""
    data = json.loads(payload)
    if not isinstance(data, dict):
        return Frame(token=False)
    if data.get("choices"):
        return Frame(token=True)
    usage = data.get("usage")
    err = data.get("error")
    if err is None and data.get("object") == "error":
        err = data
    message = None
    if err is not None:
        message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
    return Frame(token=False, usage=usage if isinstance(usage, dict) else None, error=message)
