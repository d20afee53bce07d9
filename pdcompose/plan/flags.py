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

from pdcompose.catalog.flags import Flag, Loc, canonical

__all__ = ["Flag", "FlagLayers", "Loc", "canonical", "make_flag"]


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

    def replace(self, name: str, flag: Flag) -> None:
        """Set a flag's new value where it stands (an adapted or merged value keeps its place)."""
        self._flags[name] = flag

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


def json_value(value: Any) -> Any:
    """A text value that is JSON, parsed (as vLLM's parser does); anything else unchanged."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def dotted_value(value: Any, append: bool) -> Any:
    """What vLLM's parser makes of a dotted flag's value: JSON when it parses; `key+` splits on commas."""
    if append:
        return list(value) if isinstance(value, list) else text(value).split(",")
    return json_value(value)


@dataclass(frozen=True)
class MergeConflict:
    key: str            # "compilation-config.cudagraph_mode"
    origin: Loc         # the dotted flag that set it again
    other: Loc          # where it was set first


def merge_dotted(layers: FlagLayers) -> list[MergeConflict]:
    """Fold dotted flags (`compilation_config.pass_config.x: true`) into one JSON value per config flag.

    vLLM's parser merges the dotted arguments into one JSON appended after everything else, which
    *replaces* an explicit `--compilation-config '{...}'` wherever it stood: the guide's decode loses
    its cudagraph_mode that way. One merged value keeps every key. Returns the keys set twice.
    """
    items = list(layers.items())
    heads = {name.partition(".")[0] for name, _ in items if "." in name}
    conflicts: list[MergeConflict] = []
    merged = {head: _merge_head(head, layers.get(head), items, conflicts) for head in sorted(heads)}
    if not merged:
        return conflicts
    out: dict[str, Flag] = {}
    for name, flag in items:
        head = name.partition(".")[0]
        if head in merged:
            combined = merged[head]
            if combined is None:
                out[name] = flag
            elif head not in out:
                out[head] = combined
        else:
            out[name] = flag
    layers._flags = out
    return conflicts


def _merge_head(head: str, base: Flag | None, items: list[tuple[str, Flag]],
                conflicts: list[MergeConflict]) -> Flag | None:
    value = json_value(base.value) if base else {}
    if not isinstance(value, dict):
        return None  # not a mapping: left as written, for the judge to report
    merged = json.loads(json.dumps(value))
    set_by: dict[tuple[str, ...], Loc] = {}
    first: Flag | None = base
    for name, flag in items:
        if name.partition(".")[0] != head or "." not in name:
            continue
        first = first or flag
        keys = name.partition(".")[2].split(".")
        append = keys[-1].endswith("+")
        keys[-1] = keys[-1].removesuffix("+")
        _set_key(merged, keys, dotted_value(flag.value, append), append, flag.origin, set_by, base, conflicts, head)
    assert first is not None
    return Flag(base.name if base else head, merged, False, first.origin)


def _set_key(target: dict[str, Any], keys: list[str], value: Any, append: bool, origin: Loc,
             set_by: dict[tuple[str, ...], Loc], base: Flag | None, conflicts: list[MergeConflict],
             head: str) -> None:
    path = tuple(keys)
    for key in keys[:-1]:
        target = target.setdefault(key, {}) if isinstance(target.get(key, {}), dict) else {}
    last = keys[-1]
    if append:
        target[last] = [*(target.get(last) or []), *value]
    else:
        if last in target and target[last] != value:
            other = set_by.get(path) or (base.origin if base else origin)
            conflicts.append(MergeConflict(f"{head}.{'.'.join(keys)}", origin, other))
        target[last] = value
    set_by[path] = origin
