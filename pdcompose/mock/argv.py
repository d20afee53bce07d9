"""Split a `vllm serve` command line into positionals and flags the way vLLM's parser sees them.

vLLM has hundreds of flags; the mock models a few and must accept every other one unchanged. So
instead of an argparse table this is a tokenizer with vLLM's spelling rules
(`FlexibleArgumentParser`): underscores in the first dotted segment of a long flag equal dashes
(`--compilation_config.pass_config.x` is `--compilation-config.pass_config.x`), `--flag=value`
and `--flag value` are the same, and `--no-foo` negates `--foo`.

Which flags take a value cannot be known without vLLM's table, so the rule is: a flag followed by a
token that is not itself a flag takes that token as its value (it may be a negative number, JSON or
`+quant_fp8,+rms_norm`). Known switches (`BARE_FLAGS`, `--no-*`) never take one, so
`--enforce-eager MODEL` still finds the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# vLLM's short aliases (vllm/engine/arg_utils.py, entrypoints/openai/cli_args.py).
SHORT_FLAGS = {
    "-tp": "tensor-parallel-size", "-pp": "pipeline-parallel-size", "-dp": "data-parallel-size",
    "-dpl": "data-parallel-size-local", "-dpr": "data-parallel-start-rank", "-dpn": "data-parallel-rank",
    "-dpa": "data-parallel-address", "-dpp": "data-parallel-rpc-port", "-dpb": "data-parallel-backend",
    "-dpe": "data-parallel-external-lb", "-dph": "data-parallel-hybrid-lb",
    "-dpm": "data-parallel-multi-port-external-lb", "-ep": "enable-expert-parallel",
    "-asc": "api-server-count", "-dcp": "decode-context-parallel-size",
    "-pcp": "prefill-context-parallel-size", "-n": "nnodes", "-r": "node-rank", "-q": "quantization",
}

# Switches (store_true / BooleanOptionalAction in vLLM) that never consume the next token.
BARE_FLAGS = frozenset({
    "headless", "data-parallel-hybrid-lb", "data-parallel-external-lb",
    "data-parallel-multi-port-external-lb", "disable-uvicorn-access-log", "trust-remote-code",
    "enforce-eager", "enable-expert-parallel", "async-scheduling", "enable-prefix-caching",
    "enable-chunked-prefill", "disable-log-requests", "enable-log-requests", "disable-log-stats",
    "skip-tokenizer-init", "enable-auto-tool-choice", "enable-eplb", "enable-dbo",
    "enable-prompt-tokens-details", "enable-request-id-headers", "enable-server-load-tracking",
    "enable-force-include-usage", "disable-fastapi-docs", "enable-sleep-mode", "enable-lora",
    "disable-custom-all-reduce", "disable-cascade-attn", "enable-log-outputs", "return-tokens-as-token-ids",
})

# Flags with nargs="+" in vLLM: they take every following non-flag token.
MULTI_VALUE_FLAGS = frozenset({"served-model-name"})

_FIRST_SEGMENT = re.compile(r"^[^.]*")


@dataclass(frozen=True)
class Flag:
    name: str                  # canonical, without dashes: "tensor-parallel-size", "compilation-config.x"
    values: tuple[str, ...]    # empty for a bare switch

    @property
    def value(self) -> str | None:
        return self.values[-1] if self.values else None


def canonical_name(token: str) -> str:
    """`--trust_remote_code` -> `trust-remote-code`; only the first dotted segment is rewritten."""
    body = token[2:]
    return _FIRST_SEGMENT.sub(lambda m: m.group(0).replace("_", "-"), body, count=1)


def is_flag(token: str) -> bool:
    if token.startswith("--"):
        return len(token) > 2
    return token.split("=", 1)[0] in SHORT_FLAGS or token.startswith("-O")


def _takes_no_value(name: str) -> bool:
    return name in BARE_FLAGS or name.startswith("no-")


def split_argv(tokens: Sequence[str]) -> tuple[list[str], list[Flag]]:
    """Positionals and flags, in order. `--` ends the flags, as in argparse."""
    positionals: list[str] = []
    flags: list[Flag] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            positionals.extend(tokens[i:])
            break
        if not is_flag(token):
            positionals.append(token)
            continue
        head, has_inline, inline = token.partition("=")
        if head.startswith("--"):
            name = canonical_name(head)
        elif head.startswith("-O"):
            # -O3 / -O.level=3 / -O 3: vLLM's compilation shorthand; the mock ignores it
            name, inline, has_inline = "O", inline or head[2:], "=" if has_inline or head[2:] else ""
        else:
            name = SHORT_FLAGS[head]
        if has_inline:
            flags.append(Flag(name, (inline,)))
            continue
        values: list[str] = []
        if not _takes_no_value(name):
            while i < len(tokens) and not is_flag(tokens[i]) and tokens[i] != "--":
                values.append(tokens[i])
                i += 1
                if name not in MULTI_VALUE_FLAGS:
                    break
        flags.append(Flag(name, tuple(values)))
    return positionals, flags
