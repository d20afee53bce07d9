"""Where the mock is as strict as vLLM 0.13.0: --max-model-len, a decode whose KV cannot be pulled, error bodies.

The expected texts were captured from the real vLLM 0.13.0 CPU engine (a kv_both node with --max-model-len 64,
kv_load_failure_policy "fail", the requests below); tests/e2e/test_real_engine.py keeps comparing the mock with
a real deployment on the same requests.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mockutil import NIXL, asgi_client, make_config

ENGINE_DEAD = {"error": {"message": "EngineCore encountered an issue. See stack trace (above) for the root cause.",
                         "type": "Internal Server Error", "param": None, "code": 500}}
UNREACHABLE = {"do_remote_prefill": True, "do_remote_decode": False, "remote_block_ids": [[1, 2]],
               "remote_engine_id": "nobody", "remote_request_id": "cmpl-x-0", "remote_host": "127.0.0.1",
               "remote_port": 1, "tp_size": 1}
FAIL = json.dumps({**json.loads(NIXL), "kv_load_failure_policy": "fail"})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def bad_request(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}}


def test_max_model_len_is_enforced_with_vllms_words() -> None:
    async def scenario() -> list[Any]:
        async with asgi_client(make_config("m", "--max-model-len", "64")) as client:
            sent = [("/v1/completions", {"prompt": list(range(64)), "max_tokens": 4}),
                    ("/v1/completions", {"prompt": list(range(50)), "max_tokens": 20}),
                    ("/v1/completions", {"prompt": list(range(50)), "max_tokens": 20, "stream": True}),
                    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hello world"}],
                                              "max_tokens": 200}),
                    ("/v1/chat/completions", {"messages": [{"role": "user", "content": " ".join(["w"] * 70)}],
                                              "max_tokens": 2}),
                    ("/v1/completions", {"prompt": list(range(50)), "max_tokens": 14})]
            return [await client.post(path, json=body) for path, body in sent]
    long_prompt, long_total, streamed, chat_total, chat_prompt, fits = run(scenario())
    # completions: the prompt may use max_model_len - max_tokens, and the message names that length
    assert (long_prompt.status_code, long_prompt.json()) == (400, bad_request(
        "This model's maximum context length is 60 tokens. However, your request has 64 input tokens. "
        "Please reduce the length of the input messages."))
    assert (long_total.status_code, long_total.json()) == (400, bad_request(
        "This model's maximum context length is 44 tokens. However, your request has 50 input tokens. "
        "Please reduce the length of the input messages."))
    assert (streamed.status_code, streamed.json()) == (400, long_total.json())   # refused before any stream
    # chat: vLLM's _validate_input, with the exception's cause (None) appended
    assert (chat_total.status_code, chat_total.json()) == (400, bad_request(
        "'max_tokens' or 'max_completion_tokens' is too large: 200. This model's maximum context length is 64 "
        "tokens and your request has 2 input tokens (200 > 64 - 2). None"))
    assert (chat_prompt.status_code, chat_prompt.json()) == (400, bad_request(
        "This model's maximum context length is 64 tokens. However, your request has 70 input tokens. Please "
        "reduce the length of the input messages. None"))
    assert fits.status_code == 200                                               # 50 + 14 = 64 fits


def _decode_twice(version: str, kv: str, **env: str) -> list[Any]:
    """A decode whose prefill cannot be reached, then a plain request, then /health."""
    async def scenario() -> list[Any]:
        config = make_config("m", "--kv-transfer-config", kv, env={"PDCOMPOSE_MOCK_VLLM_VERSION": version, **env})
        async with asgi_client(config) as client:
            failed = await client.post("/v1/completions", json={"prompt": "a b c", "max_tokens": 4,
                                                                 "kv_transfer_params": UNREACHABLE})
            plain = await client.post("/v1/completions", json={"prompt": "a b c", "max_tokens": 4})
            return [failed, plain, (await client.get("/health")).status_code]
    return run(scenario())


def test_a_failed_pull_kills_the_decode_engine_on_vllm_0_13() -> None:
    """Observed on 0.13.0, whatever the policy: KeyError in NIXL's get_finished, EngineCore dead, /health 503."""
    for kv in (FAIL, NIXL):
        failed, plain, health = _decode_twice("0.13.0", kv)
        assert (failed.status_code, failed.json()) == (500, ENGINE_DEAD)
        assert (plain.status_code, plain.json()) == (500, ENGINE_DEAD)
        assert health == 503
    survived, plain, health = _decode_twice("0.13.0", FAIL, PDCOMPOSE_MOCK_SURVIVE_KV_FAILURE="1")
    assert (survived.status_code, plain.status_code, health) == (500, 200, 200)    # the knob: only the policy


def test_kv_load_failure_policy_on_a_release_whose_engine_survives() -> None:
    """vLLM 0.32.0 (from its source): "fail" fails the one request with 500, "recompute" answers."""
    failed, plain, health = _decode_twice("0.32.0", FAIL)
    assert (failed.status_code, failed.json()) == (500, {"error": {
        "message": "Internal server error", "type": "InternalServerError", "param": None, "code": 500}})
    assert (plain.status_code, health) == (200, 200)
    recomputed, plain, health = _decode_twice("0.32.0", NIXL)
    assert (recomputed.status_code, plain.status_code, health) == (200, 200, 200)


def test_in_a_stream_the_policy_failure_is_a_frame() -> None:
    async def scenario() -> Any:
        config = make_config("m", "--kv-transfer-config", FAIL, env={"PDCOMPOSE_MOCK_VLLM_VERSION": "0.32.0"})
        async with asgi_client(config) as client:
            return await client.post("/v1/completions", json={"prompt": "a b", "max_tokens": 4, "stream": True,
                                                              "kv_transfer_params": UNREACHABLE})
    stream = run(scenario())
    assert stream.status_code == 200
    assert stream.text == ('data: {"error": {"message": "Internal server error", "type": "InternalServerError", '
                           '"param": null, "code": 500}}\n\ndata: [DONE]\n\n')
