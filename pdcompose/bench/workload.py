"""What a benchmark run sends: a frozen `BenchConfig` and the seeded random workload it implies.

The workload copies `vllm bench serve --dataset-name random`: per-request input and output lengths are
drawn uniformly from `[floor(L*(1-r)), ceil(L*(1+r))]`, arrivals are all at time 0 for an infinite
request rate and a Poisson process otherwise, and the request bodies are byte-for-byte the fields bench
sends. Prompts are N whitespace-separated words instead of N random token ids, because pdcompose has no
tokenizer (the mock counts prompt tokens by whitespace; with a real model's BPE each of these words is
one token, so N words come to about N tokens plus the special ones).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from pdcompose.frozen import Frozen

Endpoint = Literal["/v1/completions", "/v1/chat/completions"]
COMPLETIONS: Endpoint = "/v1/completions"
CHAT: Endpoint = "/v1/chat/completions"

# Short, common English words, distinct: one token each (with their leading space) in the usual BPEs.
WORDS = (
    "the", "of", "and", "to", "in", "is", "was", "for", "on", "are", "with", "as", "at", "be", "by", "this",
    "had", "not", "but", "from", "or", "have", "an", "they", "which", "one", "you", "were", "all", "we",
    "her", "she", "there", "would", "their", "will", "when", "who", "him", "been", "has", "more", "if",
    "no", "out", "do", "so", "can", "what", "up", "said", "about", "other", "into", "than", "its", "time",
    "only", "could", "new", "them", "man", "some", "these", "then", "two", "first", "may", "any", "like",
    "now", "my", "such", "make", "over", "our", "even", "most", "me", "state", "after", "also", "made",
    "many", "did", "must", "before", "back", "see", "through", "way", "where", "get", "much", "go", "well",
    "your", "know", "should", "down", "work", "year", "because", "come", "people", "just", "take", "how",
    "too", "little", "us", "good", "very", "own", "those", "day", "great", "here", "long", "both", "think",
    "say", "help", "put", "years", "end", "does", "another", "while", "last", "same", "old", "might",
    "high", "next", "each", "house", "under", "hand", "part", "place", "case", "world", "life", "point",
    "small", "number", "off", "always", "large", "again", "home", "give", "group", "fact", "since", "water",
    "city", "side", "left", "area", "play", "run", "light", "few", "open", "big", "low", "line", "near",
    "word", "land", "name", "book", "form", "body", "music", "kind", "show"
)

TAPE_MIN = 65536   # words in the seeded tape that prompts are cut from


class BenchConfig(Frozen):
    """One benchmark run; defaults are `vllm bench serve`'s, except where a comment says otherwise."""

    model_config = ConfigDict(ser_json_inf_nan="strings")

    base_url: str = Field(description="router (or worker) URL, e.g. http://10.0.0.5:8123")
    endpoint: Endpoint = COMPLETIONS
    model: str
    num_prompts: int = Field(default=1000, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1, description="None: no client-side limit")
    request_rate: float = Field(default=math.inf, gt=0, description="req/s; inf sends all at time 0")
    random_input_len: int = Field(default=1024, ge=1)
    random_output_len: int = Field(default=128, ge=1)
    random_range_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    ignore_eos: bool = True            # the guide passes --ignore-eos
    stream: bool = True                # vllm bench always streams; False is pdcompose's own mode
    seed: int = 0
    # vllm bench allows 6 h per request; 1800 s is the router's own --request-timeout-secs default, so
    # nothing slower can succeed through the router anyway.
    timeout: float = Field(default=1800.0, gt=0, description="seconds per request, connect to last byte")
    # Through an entry (`entry:`): the CA file to check its certificate with (None: the system's), and the
    # variable holding the client keys (the first is sent). Names only: a key never lands in a result file.
    ca_file: str | None = None
    key_env: str | None = None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"base_url: {v!r} requires an http:// or https:// scheme")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _check_lengths(self) -> BenchConfig:
        low, _ = length_bounds(self.random_input_len, self.random_range_ratio)
        if low < 1:
            raise ValueError(f"random_input_len: {self.random_input_len} with random_range_ratio "
                             f"{self.random_range_ratio} requires a lower bound of at least 1 word; "
                             f"got {low}")
        return self

    @property
    def url(self) -> str:
        return self.base_url + self.endpoint

    @property
    def is_chat(self) -> bool:
        return self.endpoint == CHAT


@dataclass(frozen=True, slots=True)
class RequestSpec:
    index: int
    prompt: str
    prompt_len: int      # words, which is what the mock counts as prompt tokens
    output_len: int


def length_bounds(mean: int, ratio: float) -> tuple[int, int]:
    """vllm's `get_sampling_params` interval (without its tokenizer special-token correction)."""
    return math.floor(mean * (1 - ratio)), math.ceil(mean * (1 + ratio))


def request_body(config: BenchConfig, prompt: str, output_len: int) -> dict[str, Any]:
    """The JSON body vllm bench's `openai` / `openai-chat` request functions send (field order kept)."""
    body: dict[str, Any]
    if config.is_chat:
        body = {"model": config.model,
                "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
                "max_completion_tokens": output_len}
    else:
        body = {"model": config.model, "prompt": prompt, "repetition_penalty": 1.0,
                "max_tokens": output_len, "logprobs": None}
    body["stream"] = config.stream
    if config.stream:   # vLLM rejects stream_options on a non-streaming request
        body["stream_options"] = {"include_usage": True}
    if config.ignore_eos:
        body["ignore_eos"] = True
    return body


class Workload:
    """Seeded per-request lengths and prompts; a prompt is only built when its request is sent."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        n = config.num_prompts
        rng = random.Random(config.seed)
        in_lo, in_hi = length_bounds(config.random_input_len, config.random_range_ratio)
        out_lo, out_hi = length_bounds(config.random_output_len, config.random_range_ratio)
        out_lo, out_hi = max(out_lo, 1), max(out_hi, 1)
        # Same draw order as vllm: input lengths, output lengths, offsets.
        self.input_lens = [rng.randint(in_lo, in_hi) for _ in range(n)]
        self.output_lens = [rng.randint(out_lo, out_hi) for _ in range(n)]
        tape_len = max(TAPE_MIN, n)
        # Distinct start offsets into one random tape: no two prompts share a prefix (a prefix cache
        # would otherwise flatter TTFT), yet building one costs a slice and a join.
        self.offsets = rng.sample(range(tape_len), n)
        self._tape = rng.choices(WORDS, k=tape_len)

    def __len__(self) -> int:
        return self.config.num_prompts

    def prompt(self, index: int) -> str:
        start, length, tape = self.offsets[index], self.input_lens[index], self._tape
        words = tape[start:start + length]
        while len(words) < length:             # wrap around for prompts longer than the tape's tail
            words += tape[:length - len(words)]
        return " ".join(words)

    def request(self, index: int) -> RequestSpec:
        return RequestSpec(index, self.prompt(index), self.input_lens[index], self.output_lens[index])

    def body(self, spec: RequestSpec) -> dict[str, Any]:
        return request_body(self.config, spec.prompt, spec.output_len)


def arrival_offsets(num: int, request_rate: float, seed: int) -> list[float]:
    """Seconds after the start at which each request is released (vllm's `get_request`, burstiness 1).

    Exponential gaps, accumulated, then rescaled so that the last arrival is exactly `num / rate`
    (vllm does this to keep throughput stable across seeds). An infinite rate releases all at once.
    """
    if math.isinf(request_rate):
        return [0.0] * num
    rng = random.Random(f"arrivals-{seed}")
    t, out = 0.0, []
    for _ in range(num):
        t += rng.expovariate(request_rate)
        out.append(t)
    scale = (num / request_rate) / out[-1]
    return [x * scale for x in out]
