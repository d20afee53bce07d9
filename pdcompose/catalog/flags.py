"""How vLLM's parser names a flag, and what one flag is: shared by the planner and the mock.

vLLM's `FlexibleArgumentParser` rewrites underscores to dashes in the first dotted segment of a long
option (`--trust_remote_code` is `--trust-remote-code`, `--compilation_config.pass_config.x` is
`--compilation-config.pass_config.x`), so a flag is identified by that canonical name. The planner
reads flags from YAML, the mock from an argv; both hold them as `Flag`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Loc = tuple[str | int, ...]


def canonical(key: str) -> str:
    """`--trust_remote_code` -> `trust-remote-code`; a trailing "=" (the joined form) is dropped too."""
    key = key.removeprefix("--").removesuffix("=")
    head, dot, rest = key.partition(".")
    return head.replace("_", "-") + dot + rest


@dataclass(frozen=True)
class Flag:
    name: str          # as spelled, without "--", "no-" (for booleans) or a trailing "="
    value: Any         # True, False, scalar, list of scalars, dict (JSON); never None
    joined: bool       # render as one token: --name=value
    origin: Loc        # where it was set, for messages: a YAML path, or ("argv", index)
