"""Read a completions or chat request body the way vLLM's request models would.

Unknown fields are ignored (vLLM logs and ignores them; the router adds several), and `null` equals
absent. Only what the mock acts on is validated, with vLLM's status codes and messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pdcompose.mock.tokens import PromptError, count_messages, count_prompt

Kind = Literal["completion", "chat"]
DEFAULT_MAX_TOKENS = 16


class ApiError(Exception):
    """Becomes vLLM's error body: {"object":"error","message":..,"type":..,"param":null,"code":N}."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class GenerateRequest:
    kind: Kind
    role: Literal["prefill", "decode"]
    prompt_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool
    continuous_usage: bool
    kv_transfer_params: Any        # as received; None when absent or null
    max_tokens_given: bool = True  # False: the mock's default (vLLM's is "up to --max-model-len")


def parse_generate(raw: bytes, content_type: str | None, kind: Kind, served_names: tuple[str, ...],
                   max_model_len: int | None = None) -> GenerateRequest:
    if (content_type or "").split(";", 1)[0].strip().lower() != "application/json":
        raise ApiError(415, "Unsupported Media Type: Only 'application/json' is allowed",
                       "Unsupported Media Type")
    body = _json_object(raw)
    model = body.get("model")
    if model is not None and model not in served_names:
        raise ApiError(404, f"The model `{model}` does not exist.", "NotFoundError")
    stream = body.get("stream") is True
    options = body.get("stream_options")
    if options is not None and not stream:
        raise ApiError(400, "Stream options can only be defined when `stream=True`.")
    options = options if isinstance(options, dict) else {}
    include_usage = stream and options.get("include_usage") is True
    kv = body.get("kv_transfer_params")
    prefill = isinstance(kv, dict) and kv.get("do_remote_decode") is True
    prompt_tokens, max_tokens = _prompt_tokens(body, kind), _max_tokens(body, kind)
    if max_model_len is not None:
        check_length(kind, prompt_tokens, max_tokens, max_model_len)
    return GenerateRequest(
        kind=kind, role="prefill" if prefill else "decode", prompt_tokens=prompt_tokens,
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS, stream=stream, include_usage=include_usage,
        continuous_usage=include_usage and options.get("continuous_usage_stats") is True,
        kv_transfer_params=kv, max_tokens_given=max_tokens is not None,
    )


def check_length(kind: Kind, prompt_tokens: int, max_tokens: int | None, max_model_len: int) -> None:
    """--max-model-len as vLLM 0.13.0 enforces it, calibrated on the real engine (tests/e2e/test_real_engine.py):

    completions render the prompt with max_length = max_model_len - max_tokens (serving_completion.py
    _build_render_config, renderer.py _create_tokens_prompt): a longer prompt is refused, and the message
    names that reduced length; chat validates prompt and prompt + max_tokens (serving_engine.py
    _validate_input) and appends the exception's cause, which is None (serving_chat.py: f"{e} {e.__cause__}").
    """
    if kind == "completion":
        limit = max_model_len - (max_tokens or 0)
        if prompt_tokens > limit:
            raise ApiError(400, f"This model's maximum context length is {limit} tokens. However, your request "
                                f"has {prompt_tokens} input tokens. Please reduce the length of the input messages.")
        return
    if prompt_tokens >= max_model_len:
        raise ApiError(400, f"This model's maximum context length is {max_model_len} tokens. However, your "
                            f"request has {prompt_tokens} input tokens. Please reduce the length of the input "
                            "messages. None")
    if max_tokens is not None and prompt_tokens + max_tokens > max_model_len:
        raise ApiError(400, f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's "
                            f"maximum context length is {max_model_len} tokens and your request has "
                            f"{prompt_tokens} input tokens ({max_tokens} > {max_model_len} - {prompt_tokens}). None")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"JSON decode error: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return body


def _prompt_tokens(body: dict[str, Any], kind: Kind) -> int:
    try:
        if kind == "chat":
            return count_messages(body.get("messages"))
        if body.get("prompt") is None:
            raise PromptError("Either prompt or prompt_embeds must be provided and non-empty.")
        return count_prompt(body["prompt"])
    except PromptError as exc:
        raise ApiError(400, str(exc)) from None


def _max_tokens(body: dict[str, Any], kind: Kind) -> int | None:
    # vLLM's chat request prefers max_completion_tokens; completions only knows max_tokens
    names = ("max_tokens", "max_completion_tokens")
    if kind == "chat":
        names = names[::-1]
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ApiError(400, f"{name} must be at least 1, got {value}.")
        return value
    return None
