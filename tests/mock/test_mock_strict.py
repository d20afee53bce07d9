"""Where the mock is as strict as vLLM 0.13.0: --max-model-len, kv_load_failure_policy "fail", error bodies.

The texts are vLLM's (serving_engine.py _validate_input and _raise_if_error); tests/e2e/test_real_engine.py
compares the mock's answers with a real engine's on the same requests.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mockutil import NIXL, asgi_client, make_config

from pdcompose.protocol import ErrorResponse

UNREACHABLE = {"do_remote_prefill": True, "do_remote_decode": False, "remote_block_ids": [[1, 2]],
               "remote_engine_id": "nobody", "remote_request_id": "cmpl-x-0", "remote_host": "127.0.0.1",
               "remote_port": 1, "tp_size": 1}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_max_model_len_is_enforced_with_vllms_words() -> None:
    async def scenario() -> list[Any]:
        async with asgi_client(make_config("m", "--max-model-len", "64")) as client:
            prompt_too_long = await client.post("/v1/completions", json={"prompt": list(range(64)), "max_tokens": 1})
            total_too_long = await client.post("/v1/completions", json={"prompt": list(range(50)), "max_tokens": 20})
            stream_too_long = await client.post("/v1/completions", json={"prompt": list(range(50)), "max_tokens": 20,
                                                                         "stream": True})
            chat = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "a b"}],
                                                                   "max_completion_tokens": 63})
            fits = await client.post("/v1/completions", json={"prompt": list(range(50)), "max_tokens": 14})
            unbounded = await client.post("/v1/completions", json={"prompt": list(range(63))})
            return [prompt_too_long, total_too_long, stream_too_long, chat, fits, unbounded]
    prompt_too_long, total_too_long, stream_too_long, chat, fits, unbounded = run(scenario())
    assert prompt_too_long.status_code == 400
    assert prompt_too_long.json() == {"error": {
        "message": "This model's maximum context length is 64 tokens. However, your request has 64 input tokens. "
                   "Please reduce the length of the input messages.",
        "type": "BadRequestError", "param": None, "code": 400}}
    assert total_too_long.status_code == stream_too_long.status_code == 400      # before any stream starts
    assert total_too_long.json() == stream_too_long.json()
    assert total_too_long.json()["error"]["message"] == (
        "'max_tokens' or 'max_completion_tokens' is too large: 20. This model's maximum context length is 64 "
        "tokens and your request has 50 input tokens (20 > 64 - 50).")
    assert chat.status_code == 400 and "too large: 63." in ErrorResponse.model_validate(chat.json()).error.message
    assert fits.status_code == 200 and unbounded.status_code == 200               # 50 + 14 = 64 fits


def test_kv_load_failure_policy_fail_fails_the_request() -> None:
    kv = json.dumps({**json.loads(NIXL), "kv_load_failure_policy": "fail"})
    body = {"prompt": "a b c", "max_tokens": 4, "kv_transfer_params": UNREACHABLE}

    async def scenario(config_kv: str) -> list[Any]:
        async with asgi_client(make_config("m", "--kv-transfer-config", config_kv)) as client:
            whole = await client.post("/v1/completions", json=body)
            stream = await client.post("/v1/completions", json={**body, "stream": True})
            stats = (await client.get("/mock/stats")).json()
            return [whole, stream, stats]
    whole, stream, stats = run(scenario(kv))
    assert whole.status_code == 500
    assert whole.json() == {"error": {"message": "Internal server error", "type": "InternalServerError",
                                      "param": None, "code": 500}}
    assert stream.status_code == 200           # the stream had begun: the error is its one frame
    assert stream.text == ('data: {"error": {"message": "Internal server error", "type": "InternalServerError", '
                           '"param": null, "code": 500}}\n\ndata: [DONE]\n\n')
    assert stats["errors"] == 2 and stats["kv_checks"] == {"unreachable": 2}
    # vLLM's default policy ("recompute") answers: the decode recomputes the prefill itself
    recomputed, _, _ = run(scenario(NIXL))
    assert recomputed.status_code == 200
