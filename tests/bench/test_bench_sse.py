"""SSE framing and token classification against the streams captured through the real router.

fixtures/*.sse and *.json are Appendix B of docs/upstream/vllm-router-protocol.md, byte for byte (checked below).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdcompose.bench.sse import DONE, SSEDecoder, parse_frame, token_chunk
from tests.upstream import protocol_blocks

FIXTURES = Path(__file__).parent / "fixtures"
COMPLETIONS = (FIXTURES / "completions_stream.sse").read_bytes()
CHAT = (FIXTURES / "chat_stream.sse").read_bytes()


def test_fixtures_are_the_captures_of_the_protocol_notes() -> None:
    captured = protocol_blocks("B")     # completions, chat, completions stream, chat stream
    files = ["completions.json", "chat.json", "completions_stream.sse", "chat_stream.sse"]
    assert [block.encode() for block in captured] == [(FIXTURES / name).read_bytes() for name in files]


def decode_all(chunks: list[bytes]) -> list[bytes]:
    dec = SSEDecoder()
    out = [p for c in chunks for p in dec.feed(c)]
    return out + dec.flush()


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_completions_stream_frames_and_kinds() -> None:
    payloads = decode_all([COMPLETIONS])
    assert len(payloads) == 5 and payloads[-1] == DONE
    assert [token_chunk(p) for p in payloads[:4]] == [True, True, True, False]
    usage = parse_frame(payloads[3])
    assert not usage.token
    assert usage.usage == {"prompt_tokens": 7, "total_tokens": 10, "completion_tokens": 3,
                           "prompt_tokens_details": None}
    assert all(json.loads(p)["choices"] for p in payloads[:3])


def test_chat_stream_frames_and_kinds() -> None:
    payloads = decode_all([CHAT])
    assert payloads[-1] == DONE
    assert [token_chunk(p) for p in payloads[:-1]] == [True, True, False]
    assert parse_frame(payloads[2]).usage["completion_tokens"] == 2


@pytest.mark.parametrize("stream", [COMPLETIONS, CHAT], ids=["completions", "chat"])
def test_every_single_split_point_gives_the_same_frames(stream: bytes) -> None:
    whole = decode_all([stream])
    for cut in range(1, len(stream)):
        assert decode_all([stream[:cut], stream[cut:]]) == whole, cut


@given(st.lists(st.integers(min_value=1, max_value=len(COMPLETIONS) - 1), max_size=40))
def test_arbitrary_network_reads_give_the_same_frames(cuts: list[int]) -> None:
    assert decode_all(split_at(COMPLETIONS, cuts)) == decode_all([COMPLETIONS])


def test_byte_by_byte() -> None:
    assert decode_all([bytes([b]) for b in CHAT]) == decode_all([CHAT])


def test_comments_crlf_and_data_without_space() -> None:
    raw = (b": ping\r\n\r\ndata:{\"choices\":[{\"text\":\"a\"}]}\r\n\r\n"
           b"data: {\"choices\": [], \"usage\": {\"completion_tokens\": 1}}\r\n\r\ndata: [DONE]\r\n\r\n")
    # a CR at the end of one read and its LF at the start of the next
    cut = raw.index(b"\n")
    payloads = decode_all([raw[:cut], raw[cut:]])
    assert payloads == [b'{"choices":[{"text":"a"}]}', b'{"choices": [], "usage": {"completion_tokens": 1}}',
                        DONE]


def test_trailing_frame_without_blank_line_is_kept_at_end_of_stream() -> None:
    dec = SSEDecoder()
    assert dec.feed(b'data: {"choices":[{"text":"x"}]}') == []
    assert dec.flush() == [b'{"choices":[{"text":"x"}]}']
    assert dec.flush() == []


@pytest.mark.parametrize(("payload", "expected"), [
    (b'{"choices":[{"index":0}]}', True),
    (b'{"choices" : [ {"index":0}]}', True),
    (b'{"choices":[]}', False),
    (b'{"choices": [ ], "usage": {}}', False),
    (b'{"choices":null,"usage":null}', False),
    (b'{"id":"a \\"choices\\" b","choices":[{}]}', True),   # an escaped key-like string is skipped
    (b'{"object":"error","message":"boom"}', None),
    (b'{"choices":', None),
])
def test_token_chunk_fast_path(payload: bytes, expected: bool | None) -> None:
    assert token_chunk(payload) is expected


def test_token_chunk_agrees_with_json_on_every_captured_frame() -> None:
    for p in decode_all([COMPLETIONS]) + decode_all([CHAT]):
        if p != DONE:
            assert token_chunk(p) is bool(json.loads(p).get("choices"))


def test_parse_frame_errors() -> None:
    assert parse_frame(b'{"object":"error","message":"boom","code":500}').error == "boom"
    assert parse_frame(b'{"error":{"message":"bad","type":"X"}}').error == "bad"
    assert parse_frame(b"[1]").token is False
    with pytest.raises(ValueError):
        parse_frame(b"not json")
