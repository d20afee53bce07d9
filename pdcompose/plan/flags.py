"""Command-line flags as layered data: recipe < cluster < role < instance < node.

A flag is identified by its canonical name, the way vLLM's argument parser sees it: underscores in
the first dotted segment equal dashes (`--trust_remote_code` == `--trust-remote-code`), `--no-x` is
`--x` set to false, and a key ending in "=" is the joined form (`compilation_config.custom_ops+=`).
The user's spelling is kept for output, so a rendered command reads like the one they wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Loc = tuple[str | int, ...]


def canonical(key: str) -> str:
    key = key.removeprefix("--").removesuffix("=")
    head, dot, rest = key.partition(".")
    return head.replace("_", "-") + dot + rest


@dataclass(frozen=True)
class Flag:
    name: str          # as spelled, without "--", "no-" (for booleans) or a trailing "="
    value: Any         # True, False, scalar, list of scalars, dict (JSON); never None
    joined: bool       # render as one token: --name=value
    origin: Loc        # where it was set, for messages


def make_flag(key: str, value: Any, origin: Loc) -> tuple[str, Flag | None]:
    """(canonical name, flag) for one `key: value` entry; the flag is None when value is null (drop)."""
    name = key.removeprefix("--")
    joined = name.endswith("=")
    name = name.removesuffix("=")
    if isinstance(value, bool) and name.startswith("no-") and not joined:
        name, value = name[3:], not value
    return canonical(name), None if value is None else Flag(name, value, joined, origin)


class FlagLayers:
    """Insertion-ordered flags; a later layer replaces an earlier value in place (the recipe's order
    is kept), or removes it with null."""

    def __init__(self) -> None:
        self._flags: dict[str, Flag] = {}

    def apply(self, args: Mapping[str, Any], origin: Loc) -> None:
        for key, value in args.items():
            name, flag = make_flag(key, value, (*origin, key))
            if flag is None:
                self._flags.pop(name, None)
            else:
                self._flags[name] = flag

    def get(self, name: str) -> Flag | None:
        return self._flags.get(name)

    def pop(self, name: str) -> Flag | None:
        return self._flags.pop(name, None)

    def items(self) -> Iterable[tuple[str, Flag]]:
        return list(self._flags.items())


def argv(flags: Iterable[Flag]) -> list[str]:
    out: list[str] = []
    for flag in flags:
        out.extend(tokens(flag))
    return out


def tokens(flag: Flag) -> list[str]:
    value = flag.value
    if value is True and not flag.joined:
        return [f"--{flag.name}"]
    if value is False and not flag.joined:
        return [f"--no-{flag.name}"]
    if flag.joined:
        return [f"--{flag.name}={text(value)}"]
    if isinstance(value, list):
        return [f"--{flag.name}", *(text(v) for v in value)]
    return [f"--{flag.name}", text(value)]


def text(value: Any) -> str:
    """How a YAML value becomes one argv token. Mappings become compact JSON, key order kept."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, list):
        return ",".join(text(v) for v in value)
    return str(value)


def same_value(flag: Flag, derived: Any) -> bool:
    """Does a user-set flag say the same as pdcompose's derived value (so it is redundant, not a conflict)?"""
    if isinstance(derived, bool) or isinstance(flag.value, bool):
        return flag.value is derived
    return text(flag.value) == text(derived)
