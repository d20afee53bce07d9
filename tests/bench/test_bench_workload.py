"""BenchConfig validation, seeded prompts and lengths, request bodies and arrival times."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from pdcompose.bench.workload import BenchConfig, Workload, arrival_offsets, length_bounds, request_body


def cfg(**kw) -> BenchConfig:
    return BenchConfig(**({"base_url": "http://r:8123", "model": "m"} | kw))


def test_defaults_are_vllm_bench_defaults() -> None:
    c = cfg()
    assert (c.endpoint, c.num_prompts, c.max_concurrency, c.request_rate) == ("/v1/completions", 1000, None,
                                                                              math.inf)
    assert (c.random_input_len, c.random_output_len, c.random_range_ratio, c.seed) == (1024, 128, 0.0, 0)
    assert c.url == "http://r:8123/v1/completions" and not c.is_chat


@pytest.mark.parametrize(("kw", "match"), [
    ({"base_url": "router:8123"}, r"base_url: 'router:8123' requires an http:// or https:// scheme"),
    ({"endpoint": "/v1/embeddings"}, "endpoint"),
    ({"random_range_ratio": 1.0}, "random_range_ratio"),
    ({"request_rate": 0}, "request_rate"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"random_input_len": 1, "random_range_ratio": 0.5}, "requires a lower bound of at least 1 word; got 0"),
    ({"num_prompt": 3}, "Extra inputs are not permitted"),
])
def test_config_errors(kw: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        cfg(**kw)


def test_config_is_frozen_and_trailing_slash_is_dropped() -> None:
    c = cfg(base_url="http://r:8123/")
    assert c.url == "http://r:8123/v1/completions"
    with pytest.raises(ValidationError):
        c.num_prompts = 3  # type: ignore[misc]  # the point: assigning to a frozen model fails


def test_lengths_follow_vllm_bounds_and_the_seed() -> None:
    c = cfg(num_prompts=500, random_input_len=100, random_output_len=10, random_range_ratio=0.5, seed=7)
    w = Workload(c)
    assert length_bounds(100, 0.5) == (50, 150)
    assert all(50 <= n <= 150 for n in w.input_lens) and all(5 <= n <= 15 for n in w.output_lens)
    assert len(set(w.input_lens)) > 50                  # actually spread
    again = Workload(c)
    assert again.input_lens == w.input_lens and again.prompt(3) == w.prompt(3)
    assert Workload(c.model_copy(update={"seed": 8})).prompt(3) != w.prompt(3)


def test_fixed_lengths_without_range_ratio() -> None:
    w = Workload(cfg(num_prompts=5, random_input_len=4096, random_output_len=1))
    assert set(w.input_lens) == {4096} and set(w.output_lens) == {1}


def test_prompts_have_the_word_count_and_differ_from_the_first_words_on() -> None:
    w = Workload(cfg(num_prompts=300, random_input_len=64))
    prompts = [w.prompt(i) for i in range(300)]
    assert all(len(p.split()) == 64 and p == p.strip() for p in prompts)
    assert len({tuple(p.split()[:16]) for p in prompts}) == 300   # no shared 16-word prefix block


def test_prompt_longer_than_the_tape_wraps() -> None:
    w = Workload(cfg(num_prompts=2, random_input_len=70000))
    assert len(w.prompt(1).split()) == 70000


def test_completions_body_is_bench_s() -> None:
    body = request_body(cfg(), "a b", 7)
    assert body == {"model": "m", "prompt": "a b", "repetition_penalty": 1.0, "max_tokens": 7,
                    "logprobs": None, "stream": True, "stream_options": {"include_usage": True},
                    "ignore_eos": True}
    assert list(body) == ["model", "prompt", "repetition_penalty", "max_tokens", "logprobs", "stream",
                          "stream_options", "ignore_eos"]


def test_chat_body_is_bench_s() -> None:
    body = request_body(cfg(endpoint="/v1/chat/completions", ignore_eos=False), "a b", 7)
    messages = [{"role": "user", "content": [{"type": "text", "text": "a b"}]}]
    assert body == {"model": "m", "messages": messages, "max_completion_tokens": 7, "stream": True,
                    "stream_options": {"include_usage": True}}


def test_non_streaming_body_has_no_stream_options() -> None:
    body = request_body(cfg(stream=False), "a", 2)
    assert body["stream"] is False and "stream_options" not in body


def test_arrivals() -> None:
    assert arrival_offsets(4, math.inf, 0) == [0.0] * 4
    a = arrival_offsets(1000, 20.0, 0)
    assert a == sorted(a) and a[0] > 0 and a[-1] == pytest.approx(50.0)
    gaps = [y - x for x, y in zip([0.0, *a], a, strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.05)
    assert max(gaps) > 3 * min(gaps)                    # exponential, not uniform
    assert arrival_offsets(1000, 20.0, 0) == a and arrival_offsets(1000, 20.0, 1) != a
