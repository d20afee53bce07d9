"""vLLM's OpenAI-compatible server: what `vllm serve` (and the mock) answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pdcompose.wire import OpenModel


class ModelCard(OpenModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "vllm"
    root: str | None = None          # vLLM puts the model path here; `vllm bench` loads it as the tokenizer
    parent: str | None = None
    max_model_len: int | None = None
    permission: list[dict[str, Any]] = Field(default_factory=list)


class ModelList(OpenModel):
    object: Literal["list"] = "list"
    data: list[ModelCard] = Field(default_factory=list)


class KVTransferParams(OpenModel):
    """A prefill's `kv_transfer_params` (NIXL connector), copied by the router into the decode body.

    `remote_block_ids` is one list per KV-cache group in newer vLLM (`[[1, 2]]`), a flat list in older.
    """

    do_remote_prefill: bool = False
    do_remote_decode: bool = False
    remote_block_ids: list[list[int]] | list[int] | None = None
    remote_engine_id: str | None = None
    remote_request_id: str | None = None
    remote_host: str | None = None
    remote_port: int | None = None
    tp_size: int | None = None


class PromptTokensDetails(OpenModel):
    cached_tokens: int | None = None


class Usage(OpenModel):
    prompt_tokens: int = 0
    total_tokens: int = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: PromptTokensDetails | None = None


class CompletionChoice(OpenModel):
    index: int = 0
    text: str = ""
    finish_reason: str | None = None


class CompletionResponse(OpenModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    kv_transfer_params: KVTransferParams | None = None


class ErrorInfo(OpenModel):
    message: str
    type: str
    param: str | None = None
    code: int


class ErrorResponse(OpenModel):
    """vLLM's error body (0.13.0 on): `{"error":{"message":..,"type":..,"param":null,"code":N}}`."""

    error: ErrorInfo


def model_served(models: ModelList, model: str) -> bool:
    """True when `/v1/models` lists `model` (by its served name)."""
    return any(card.id == model for card in models.data)
