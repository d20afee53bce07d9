"""Deterministic stand-ins for a tokenizer and a model: whitespace tokens in, fixed words out.

Whitespace tokens keep the arithmetic checkable by hand (`"hello world"` is 2 prompt tokens), and
the generated text re-tokenises to exactly `completion_tokens` words, so a client that counts tokens
itself (`vllm bench` without a usage frame) agrees with the server.
"""

from __future__ import annotations

from typing import Any

BLOCK_SIZE = 16            # vLLM's default KV block size: a prefill of P tokens fills ceil(P/16) blocks

_WORDS = (
    "The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and", "then", "runs",
    "across", "a", "wide", "green", "field", "under", "bright", "blue", "sky", "while", "birds", "sing",
    "in", "tall", "trees", "near", "river", "that", "flows", "south",
)


class PromptError(ValueError):
    """The request carries no prompt this server could tokenise."""


def count_text(text: str) -> int:
    return len(text.split())


def count_prompt(prompt: Any) -> int:
    """Completions `prompt`: a string, a list of strings, a list of token ids, or a list of those."""
    if isinstance(prompt, str):
        return count_text(prompt)
    if isinstance(prompt, list) and prompt:
        if all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            return len(prompt)
        return sum(count_prompt(item) for item in prompt)
    raise PromptError("prompt must be a string, a list of strings or a list of token ids")


def count_messages(messages: Any) -> int:
    """Chat `messages`: content strings, or content parts of which only text parts count."""
    if not isinstance(messages, list) or not messages:
        raise PromptError("messages must be a non-empty list")
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            raise PromptError("each message must be an object")
        content = message.get("content")
        if isinstance(content, str):
            total += count_text(content)
        elif isinstance(content, list):
            total += sum(count_text(p.get("text") or "") for p in content if isinstance(p, dict))
    return total


def words(start: int, count: int) -> str:
    """Generated text for token positions [start, start+count): each token is one ` word`."""
    return "".join(" " + _WORDS[i % len(_WORDS)] for i in range(start, start + count))


def block_count(prompt_tokens: int) -> int:
    return max(1, -(-prompt_tokens // BLOCK_SIZE))
