"""Replay the router's captured request shapes (docs/upstream/vllm-router-protocol.md, Appendix A) and
check every field of the answers against sections 5 and 6.4."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from mockutil import NIXL, asgi_client, make_config

from pdcompose.bench.sse import DONE, payloads
from pdcompose.mock.runtime import Runtime
from pdcompose.mock.sidechannel import start_listeners
from pdcompose.wire.vllm import CompletionResponse, ErrorResponse, ModelList, model_served
from tests.upstream import protocol_blocks

XRID = "___prefill_addr_127.0.0.1:18101___decode_addr_127.0.0.1:18201_7311ce440f254a7898c9d72f5aba5b53"
ROUTER_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer", "Accept": "*/*",
                  "X-Request-ID": XRID}
REQUEST_PARAMS = {"do_remote_decode": True, "do_remote_prefill": False, "remote_engine_id": None,
                  "remote_block_ids": None, "remote_host": None, "remote_port": None}
# What the capture's prefill mock handed back; the decode must not accept it as its own prefill's.
CAPTURED_PARAMS = {"do_remote_prefill": True, "do_remote_decode": False, "remote_block_ids": [1, 2, 3],
                   "remote_engine_id": "58cb6b56-de8a-446e-baf1-918143e2c5c2", "remote_request_id": "cmpl-xyz-0",
                   "remote_host": "127.0.0.1", "remote_port": 5600, "tp_size": 1}
COMPLETION_DEFAULTS = {"echo": False, "no_stop_trim": False, "ignore_eos": False, "skip_special_tokens": True,
                       "return_hidden_states": False}
CHAT_DEFAULTS = {"logprobs": False, "no_stop_trim": False, "ignore_eos": False, "continue_final_message": False,
                 "skip_special_tokens": True, "separate_reasoning": True, "stream_reasoning": True,
                 "return_hidden_states": False, "include_reasoning": True}

A1_PREFILL = {"model": "mock-model", "prompt": "hello world", "max_tokens": 1, "temperature": 0.0, "stream": False,
              **COMPLETION_DEFAULTS, "min_tokens": 1, "kv_transfer_params": REQUEST_PARAMS}
A1_DECODE = {"model": "mock-model", "prompt": "hello world", "max_tokens": 5, "temperature": 0.0, "stream": False,
             **COMPLETION_DEFAULTS, "kv_transfer_params": CAPTURED_PARAMS}
A2_DECODE = {"model": "mock-model", "prompt": "hello world", "max_tokens": 3, "stream": True,
             "stream_options": {"include_usage": True}, "echo": False, "repetition_penalty": 1.100000023841858,
             **COMPLETION_DEFAULTS, "ignore_eos": True, "foo_unknown": 1, "request_id": "x", "priority": 0,
             "top_k": -1, "kv_transfer_params": CAPTURED_PARAMS}
A3_PREFILL = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}], "stream": False,
              "max_completion_tokens": 1, **CHAT_DEFAULTS, "max_tokens": 1, "min_tokens": 1,
              "kv_transfer_params": REQUEST_PARAMS}
A3_DECODE = {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}], "stream": False,
             "max_completion_tokens": 4, **CHAT_DEFAULTS, "kv_transfer_params": CAPTURED_PARAMS}
A4_DECODE = {"model": "mock-model", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
             "stream": True, "stream_options": {"include_usage": True}, "max_completion_tokens": 2,
             **CHAT_DEFAULTS, "ignore_eos": True, "kv_transfer_params": CAPTURED_PARAMS}


def test_the_replayed_bodies_are_the_captured_ones():
    # Appendix A's blocks: (prefill, decode) of A.1 to A.4. A2_DECODE is A.2's decode with extra fields on
    # purpose (an unknown key, a request id, a float that is not exact in binary), so it is compared by
    # what it keeps.
    captured = [json.loads(block) for block in protocol_blocks("A")]
    assert [captured[0], captured[1], captured[4], captured[5], captured[7]] == [
        A1_PREFILL, A1_DECODE, A3_PREFILL, A3_DECODE, A4_DECODE]
    extra = {"repetition_penalty", "foo_unknown", "request_id", "priority", "top_k"}
    assert {k: v for k, v in captured[3].items() if k not in extra} == \
        {k: v for k, v in A2_DECODE.items() if k not in extra}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def post(client: httpx.AsyncClient, path: str, body: dict, **headers: str):
    return client.post(path, content=json.dumps(body), headers={**ROUTER_HEADERS, **headers})


def frames(response: httpx.Response) -> list[Any]:
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("data: [DONE]\n\n")
    assert all(chunk.startswith("data: ") for chunk in response.text.split("\n\n") if chunk)
    return [p.decode() if p == DONE else json.loads(p) for p in payloads(response.content)]


def test_completion_prefill_answer_is_vllm_shaped() -> None:
    async def scenario() -> None:
        config = make_config("mock-model", "-tp", "2", "--kv-transfer-config", NIXL,
                             env={"VLLM_NIXL_SIDE_CHANNEL_HOST": "10.1.2.3", "VLLM_NIXL_SIDE_CHANNEL_PORT": "5700"})
        rt = Runtime(config)
        async with asgi_client(config, rt) as client:
            response = await post(client, "/v1/completions", {**A1_PREFILL, "prompt": " ".join(["w"] * 40)})
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        body = response.json()
        assert list(body) == ["id", "object", "created", "model", "choices", "usage", "kv_transfer_params"]
        assert body["id"] == f"cmpl-{XRID}" and body["object"] == "text_completion" and body["model"] == "mock-model"
        choice = body["choices"][0]
        assert choice["finish_reason"] == "length" and len(choice["text"].split()) == 1
        assert {k: choice[k] for k in ("index", "logprobs", "stop_reason", "prompt_logprobs")} == {
            "index": 0, "logprobs": None, "stop_reason": None, "prompt_logprobs": None}
        assert body["usage"] == {"prompt_tokens": 40, "total_tokens": 41, "completion_tokens": 1,
                                 "prompt_tokens_details": {"cached_tokens": 0}}
        params = body["kv_transfer_params"]
        assert list(params) == ["do_remote_prefill", "do_remote_decode", "remote_block_ids", "remote_engine_id",
                                "remote_request_id", "remote_host", "remote_port", "tp_size"]
        assert params["do_remote_prefill"] is True and params["do_remote_decode"] is False
        assert params["remote_block_ids"] == [0, 1, 2]          # ceil(40/16), one flat list as vLLM 0.13.0's
        assert params["remote_engine_id"] == rt.engine_ids[0] and "_dp" not in params["remote_engine_id"]
        assert params["remote_request_id"] == f"cmpl-{XRID}-0"
        assert (params["remote_host"], params["remote_port"], params["tp_size"]) == ("10.1.2.3", 5700, 2)
        CompletionResponse.model_validate(body)
    run(scenario())


def test_chat_prefill_answer_is_vllm_shaped() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model")) as client:
            response = await post(client, "/v1/chat/completions", A3_PREFILL)
        body = response.json()
        assert body["id"] == f"chatcmpl-{XRID}" and body["object"] == "chat.completion"
        message = body["choices"][0]["message"]
        assert list(message) == ["role", "content", "reasoning_content", "tool_calls"]
        assert message["role"] == "assistant" and message["tool_calls"] == [] and message["content"]
        assert body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["completion_tokens"] == 1
        assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
        assert body["kv_transfer_params"]["remote_request_id"] == f"chatcmpl-{XRID}"
    run(scenario())


def test_completion_decode_non_streaming() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model", env={"PDCOMPOSE_MOCK_KV_TIMEOUT": "0.2"})) as client:
            response = await post(client, "/v1/completions", A1_DECODE)
            stats = (await client.get("/mock/stats")).json()
        body = response.json()
        assert response.status_code == 200
        assert body["id"] == f"cmpl-{XRID}"
        assert body["choices"] == [{"index": 0, "text": body["choices"][0]["text"], "logprobs": None,
                                    "finish_reason": "length", "stop_reason": None, "prompt_logprobs": None}]
        assert len(body["choices"][0]["text"].split()) == 5
        assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 7, "completion_tokens": 5,
                                 "prompt_tokens_details": None}
        assert "kv_transfer_params" in body and body["kv_transfer_params"] is None
        record = stats["records"][0]
        assert record["kv_transfer_params"] == CAPTURED_PARAMS
        assert record["kv_check"] in {"unreachable", "engine_mismatch"}      # a foreign prefill, never "ok"
    run(scenario())


def test_completion_decode_streaming_with_usage() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model", env={"PDCOMPOSE_MOCK_KV_TIMEOUT": "0.2"})) as client:
            response = await post(client, "/v1/completions", A2_DECODE)
        events = frames(response)
        tokens, usage, done = events[:3], events[3], events[4]
        for i, chunk in enumerate(tokens):
            assert list(chunk) == ["id", "object", "created", "model", "choices", "usage"]
            assert chunk["id"] == f"cmpl-{XRID}" and chunk["object"] == "text_completion" and chunk["usage"] is None
            assert chunk["choices"] == [{"index": 0, "text": chunk["choices"][0]["text"], "logprobs": None,
                                         "finish_reason": "length" if i == 2 else None, "stop_reason": None}]
        assert len("".join(c["choices"][0]["text"] for c in tokens).split()) == 3
        assert usage == {"id": f"cmpl-{XRID}", "object": "text_completion", "created": tokens[0]["created"],
                         "model": "mock-model", "choices": [],
                         "usage": {"prompt_tokens": 2, "total_tokens": 5, "completion_tokens": 3}}
        assert done == "[DONE]" and len(events) == 5
    run(scenario())


def test_chat_decode_non_streaming() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model", env={"PDCOMPOSE_MOCK_KV_TIMEOUT": "0.2"})) as client:
            response = await post(client, "/v1/chat/completions", A3_DECODE)
        body = response.json()
        assert list(body) == ["id", "object", "created", "model", "choices", "usage", "prompt_logprobs",
                              "kv_transfer_params"]
        assert body["id"] == f"chatcmpl-{XRID}" and body["object"] == "chat.completion"
        choice = body["choices"][0]
        assert choice["message"]["role"] == "assistant" and len(choice["message"]["content"].split()) == 4
        assert (choice["finish_reason"], choice["stop_reason"], choice["logprobs"]) == ("length", None, None)
        assert body["usage"] == {"prompt_tokens": 1, "total_tokens": 5, "completion_tokens": 4,
                                 "prompt_tokens_details": None}
        assert body["prompt_logprobs"] is None and body["kv_transfer_params"] is None
    run(scenario())


def test_chat_decode_streaming_starts_with_the_role_delta() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model", env={"PDCOMPOSE_MOCK_KV_TIMEOUT": "0.2"})) as client:
            response = await post(client, "/v1/chat/completions", A4_DECODE)
        events = frames(response)
        assert len(events) == 5 and events[-1] == "[DONE]"
        role, first, last, usage = events[:4]
        assert role["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                    "finish_reason": None}]
        assert first["choices"][0]["delta"].keys() == {"content"} and first["choices"][0]["finish_reason"] is None
        assert last["choices"][0]["finish_reason"] == "length" and last["choices"][0]["stop_reason"] is None
        for chunk in (role, first, last):
            assert chunk["object"] == "chat.completion.chunk" and chunk["id"] == f"chatcmpl-{XRID}"
            assert "usage" not in chunk                         # vLLM dumps chat chunks with exclude_unset
        assert usage["choices"] == [] and usage["object"] == "chat.completion.chunk"
        assert usage["usage"] == {"prompt_tokens": 1, "total_tokens": 3, "completion_tokens": 2}
    run(scenario())


def test_usage_frame_only_when_asked_and_stream_interval() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model", "--stream-interval", "3")) as client:
            body = {"model": "mock-model", "prompt": "a b", "max_tokens": 8, "stream": True}
            events = frames(await post(client, "/v1/completions", body))
            chat = {"model": "mock-model", "messages": [{"role": "user", "content": "a"}], "max_tokens": 1,
                    "stream": True, "stream_options": {"include_usage": False}}
            chat_events = frames(await post(client, "/v1/chat/completions", chat))
        assert all(e == "[DONE]" or e["choices"] for e in events)           # no usage frame
        sizes = [len(e["choices"][0]["text"].split()) for e in events[:-1]]
        assert sizes == [1, 3, 3, 1]                                        # first alone, then N, then the rest
        assert len(chat_events) == 3 and chat_events[1]["choices"][0]["finish_reason"] == "length"
    run(scenario())


def test_decode_with_the_prefills_own_params_checks_ok() -> None:
    """The whole hand-off inside one process: side-channel listener, prefill, then decode."""
    async def scenario() -> None:
        env = {"VLLM_NIXL_SIDE_CHANNEL_HOST": "127.0.0.221", "VLLM_NIXL_SIDE_CHANNEL_PORT": "25621"}
        config = make_config("mock-model", "--kv-transfer-config", NIXL, env=env)
        rt = Runtime(config)
        listeners = await start_listeners(config, rt.pool.engines)
        try:
            async with asgi_client(config, rt) as client:
                prefill = (await post(client, "/v1/completions", A1_PREFILL)).json()
                decode = {**A1_DECODE, "kv_transfer_params": prefill["kv_transfer_params"]}
                assert (await post(client, "/v1/completions", decode)).status_code == 200
                stats = (await client.get("/mock/stats")).json()
        finally:
            for listener in listeners:
                listener.close()
        assert stats["by_role"] == {"prefill": 1, "decode": 1} and stats["kv_checks"] == {"ok": 1}
        assert stats["kv_failures"] == 0
        assert [r["request_id"] for r in stats["records"]] == [XRID, XRID]
    run(scenario())


def test_errors_are_vllm_shaped() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model")) as client:
            bad_json = await client.post("/v1/completions", content=b"{nope", headers=ROUTER_HEADERS)
            wrong_model = await post(client, "/v1/completions", {**A1_DECODE, "model": "x"})
            text_plain = await client.post("/v1/completions", content=json.dumps(A1_DECODE),
                                           headers={**ROUTER_HEADERS, "Content-Type": "text/plain"})
            no_prompt = await post(client, "/v1/completions", {"model": "mock-model"})
            zero_tokens = await post(client, "/v1/chat/completions", {**A3_DECODE, "max_completion_tokens": 0})
            options_without_stream = await post(client, "/v1/completions", {**A1_DECODE, "stream_options": {}})
            stats = (await client.get("/mock/stats")).json()
        assert bad_json.status_code == 400 and ErrorResponse.model_validate(bad_json.json()).error.code == 400
        assert wrong_model.status_code == 404
        assert wrong_model.json() == {"error": {"message": "The model `x` does not exist.",
                                                "type": "NotFoundError", "param": None, "code": 404}}
        assert text_plain.status_code == 415 and text_plain.json()["error"]["code"] == 415
        assert no_prompt.status_code == 400 and "prompt" in no_prompt.json()["error"]["message"]
        assert zero_tokens.status_code == 400 and "max_completion_tokens" in zero_tokens.json()["error"]["message"]
        assert options_without_stream.status_code == 400
        assert stats["errors"] == 6 and all(r["role"] is None for r in stats["records"])
    run(scenario())


def test_api_key_guards_v1_only() -> None:
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model", "--api-key", "sekrit")) as client:
            bare = await post(client, "/v1/completions", A1_PREFILL)
            wrong = await post(client, "/v1/completions", A1_PREFILL, Authorization="Bearer nope")
            right = await post(client, "/v1/completions", A1_PREFILL, Authorization="Bearer sekrit")
            models = await client.get("/v1/models")
            health = await client.get("/health")
            metrics = await client.get("/metrics")
            stats = (await client.get("/mock/stats")).json()
        assert stats["errors"] == 2 and [r["status"] for r in stats["records"]] == [401, 401, 200]
        assert (bare.status_code, wrong.status_code, right.status_code, models.status_code) == (401, 401, 200, 401)
        assert bare.json() == {"error": "Unauthorized"}
        assert (health.status_code, metrics.status_code) == (200, 200)
    run(scenario())


def test_api_key_is_checked_like_vllms_middleware() -> None:
    """vLLM 0.13's AuthenticationMiddleware: scheme `bearer` in any case, the rest after the first space is
    the key; an unknown /v1 path is 401 before routing (404 only with the key); other paths stay open."""
    async def scenario() -> None:
        async with asgi_client(make_config("mock-model", "--api-key", "sekrit")) as client:
            lower = await client.get("/v1/models", headers={"Authorization": "bearer sekrit"})
            basic = await client.get("/v1/models", headers={"Authorization": "Basic sekrit"})
            spaced = await client.get("/v1/models", headers={"Authorization": "Bearer  sekrit"})
            unknown = await client.get("/v1/embeddings")
            unknown_keyed = await client.get("/v1/embeddings", headers={"Authorization": "Bearer sekrit"})
            version = await client.get("/version")
        assert (lower.status_code, basic.status_code, spaced.status_code) == (200, 401, 401)
        assert unknown.status_code == 401 and unknown.json() == {"error": "Unauthorized"}
        assert unknown_keyed.status_code == 404 and version.status_code == 200
    run(scenario())


def test_models_and_health_follow_the_load_delay() -> None:
    async def scenario() -> None:
        config = make_config("/models/dsr1", "--served-model-name", "mock-model", "--max-model-len", "4096")
        async with asgi_client(config) as client:
            models = (await client.get("/v1/models")).json()
            health = await client.get("/health")
        assert health.status_code == 200 and health.content == b""
        assert model_served(ModelList.model_validate(models), "mock-model")
        assert not model_served(ModelList.model_validate(models), "/models/dsr1")
        card = models["data"][0]
        assert models["object"] == "list" and card["id"] == "mock-model" and card["object"] == "model"
        assert (card["root"], card["max_model_len"], card["owned_by"], card["parent"]) == (
            "/models/dsr1", 4096, "vllm", None)
        slow = make_config("m", env={"PDCOMPOSE_MOCK_LOAD_DELAY": "30"})
        async with asgi_client(slow) as client:
            assert (await client.get("/health")).status_code == 503
            refused = await client.post("/v1/completions", json={"prompt": "a"})
            assert refused.status_code == 503 and refused.json()["error"]["type"] == "ServiceUnavailableError"
    run(scenario())


def test_templated_token_frames_equal_the_serialised_ones() -> None:
    from pdcompose.mock import responses as r

    for kind in ("completion", "chat"):
        reply = r.new_reply(kind, 'id "with" quotes', "m\u00e9")
        for text in (" word", 'q"uote\\', " \u00fcn\u00efcode", ""):
            for last in (False, True):
                assert r.token_frame(reply, text, last) == r._token_frame(reply, text, last, None)
