"""The manifests as YAML, exactly as ruamel.yaml's safe dumper writes them, in a fraction of its time.

ruamel's pure-Python emitter spends ~10 ms of CPU per pod template (9.9 s at 1024 hosts, most of the
export). The manifests are plain trees of dicts, lists and scalars, and the block layout ruamel gives
them is fixed (mappings indented by 2, sequences not indented under their key, `- ` items carrying
their first line); only a scalar's spelling (plain, quoted, escaped) needs YAML's rules. So ruamel still
spells every distinct scalar and key, all of them in one batch, and this module only lays them out.
Anything outside that shape (a spelling that wraps or spans lines, a non-string key, a non-mapping
document) falls back to ruamel for the whole call: the result is the same bytes either way.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

SCALARS = (str, int, bool, type(None))   # what manifests hold (a float NaN could not be looked up)
OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")     # YAML line breaks besides \n
LONGEST = 2048          # spellings longer than this might reach ruamel's line width (4096) once indented


def ruamel_dump(docs: Iterable[Any]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # ruamel declares it None-typed
    yaml.width = 4096
    yaml.allow_unicode = True
    yaml.representer.ignore_aliases = lambda _data: True  # no &id001 anchors
    stream = io.StringIO()
    yaml.dump_all(docs, stream)
    return stream.getvalue()


def dump(docs: list[dict[str, Any]]) -> str:
    """`ruamel_dump(docs)`, byte for byte."""
    values: dict[tuple[type, Any], None] = {}
    keys: dict[str, None] = {}
    if not all(type(d) is dict and d for d in docs) or not _collect(docs, values, keys):
        return ruamel_dump(docs)
    spelled = _spell_values(list(values)), _spell_keys(list(keys))
    if spelled[0] is None or spelled[1] is None:
        return ruamel_dump(docs)
    layout = _Layout(spelled[0], spelled[1])
    return "---\n".join("".join(layout.mapping(d, 0)) for d in docs)


def _collect(node: Any, values: dict[tuple[type, Any], None], keys: dict[str, None]) -> bool:
    """Every distinct scalar (by type: True and 1 are spelled differently) and key; False: not a plain tree
    (exact types: ruamel writes a subclass such as OrderedDict with a tag of its own)."""
    if type(node) is dict:
        for k, v in node.items():
            if type(k) is not str:
                return False
            keys[k] = None
            if not _collect(v, values, keys):
                return False
        return True
    if type(node) is list:
        return all(_collect(item, values, keys) for item in node)
    if type(node) in SCALARS:
        values[(type(node), node)] = None
        return True
    return False


def _spell_values(values: list[tuple[type, Any]]) -> dict[tuple[type, Any], str] | None:
    """ruamel's spelling of each value as a block sequence item: one `- <spelling>` line each, or None."""
    if not values:
        return {}
    lines = _lines(ruamel_dump([[v for _, v in values]]))
    if lines is None or len(lines) != len(values):
        return None
    if not all(line.startswith("- ") and len(line) <= LONGEST for line in lines):
        return None
    return {v: line[2:] for v, line in zip(values, lines, strict=True)}


def _spell_keys(keys: list[str]) -> dict[str, str] | None:
    """ruamel's spelling of each key as a simple block mapping key, or None."""
    if not keys:
        return {}
    lines = _lines(ruamel_dump([dict.fromkeys(keys, 0)]))
    if lines is None or len(lines) != len(keys):
        return None
    if not all(line.endswith(": 0") and len(line) <= LONGEST for line in lines):
        return None
    return {k: line[:-3] for k, line in zip(keys, lines, strict=True)}


def _lines(text: str) -> list[str] | None:
    """The lines of ruamel's output; None if it wrote any other line break (a quoted scalar holding NEL,
    LS or PS gets the break itself and the next line's indentation: its spelling depends on where it is)."""
    if any(br in text for br in OTHER_BREAKS):
        return None
    return text.removesuffix("\n").split("\n")


class _Layout:
    """Block layout, as ruamel writes it with default_flow_style=False and its default indents."""

    def __init__(self, values: dict[tuple[type, Any], str], keys: dict[str, str]):
        self._values = values
        self._keys = keys

    def _leaf(self, node: Any) -> str:
        if isinstance(node, dict | list):        # only empty ones reach here: flow style
            return "{}" if isinstance(node, dict) else "[]"
        return self._values[(type(node), node)]

    def mapping(self, node: dict[str, Any], indent: int) -> list[str]:
        pad = " " * indent
        out = []
        for k, v in node.items():
            key = self._keys[k]
            if isinstance(v, dict) and v:
                out.append(f"{pad}{key}:\n")
                out += self.mapping(v, indent + 2)
            elif isinstance(v, list) and v:
                out.append(f"{pad}{key}:\n")
                out += self.sequence(v, indent)     # not indented under its key
            else:
                out.append(f"{pad}{key}: {self._leaf(v)}\n")
        return out

    def sequence(self, node: list[Any], indent: int) -> list[str]:
        pad = " " * indent
        out = []
        for item in node:
            if isinstance(item, dict | list) and item:
                inner = self.mapping(item, indent + 2) if isinstance(item, dict) else self.sequence(item, indent + 2)
                out.append(f"{pad}- {inner[0][indent + 2:]}")     # the item's first line follows its dash
                out += inner[1:]
            else:
                out.append(f"{pad}- {self._leaf(item)}\n")
        return out
