"""Read a YAML file into plain Python data plus a map from field paths to (line, column).

ruamel.yaml's round-trip loader is used because it records the position of every key and item;
PyYAML's safe loader throws that away. Everything downstream (pydantic, the planner) sees plain
dicts, lists and scalars; only error messages use the position map.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdcompose.errors import Issue, Severity, TopologyError

MAX_BYTES = 1 << 20          # a topology is a few KB; a 1 MiB one is a mistake (or an attack)
MAX_NODES = 200_000          # expanded nodes after aliases: stops "billion laughs" documents

Loc = tuple[str | int, ...]


@dataclass
class Source:
    name: str                                   # the path as the user gave it, for messages
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc) -> tuple[int | None, int | None]:
        """Position of the deepest existing prefix of `loc` (pydantic locs may name absent fields)."""
        for end in range(len(loc), -1, -1):
            pos = self.positions.get(tuple(loc[:end]))
            if pos:
                return pos
        if loc and str(loc[0]).startswith("recipe "):
            return self.locate(("recipe",))  # a recipe's setting: point at the line that names the recipe
        return None, None

    def issue(self, code: str, loc: Loc, message: str, severity: Severity = "error") -> Issue:
        line, col = self.locate(loc)
        return Issue(code, format_loc(loc), message, severity, self.name, line, col)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(path: Path, display: str | None = None) -> Source:
    name = display or str(path)
    text = _read_text(path, name)
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> Source:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        msg = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        # ruamel quotes both values of a duplicate key: one of them may be a token
        msg = re.sub(r' with value ".*', "", msg, flags=re.S)
        msg += _yaml_hint(msg)
        raise TopologyError([Issue("yaml-syntax", "", f"YAML syntax: {msg}", "error", name, line, col)]) from None
    except YAMLError as exc:  # e.g. a stream that is not a document at all
        raise TopologyError([Issue("yaml-syntax", "", f"YAML syntax: {exc}", "error", name)]) from None
    if doc is None:
        raise TopologyError([Issue("empty", "", "the file is empty; `pdcompose init` writes a starter "
                                   "topology", "error", name, 1, 1)])
    source = Source(name, None)
    source.data = _Plain(source, name).convert(doc, ())
    return source


_YAML_HINTS = (
    ("'\\t'", "a tab character: YAML indents with spaces only; replace the tab with spaces"),
    ("mapping values are not allowed here", "a ':' inside a value (quote the value) or a key indented "
                                            "deeper than its siblings"),
    ("could not find expected ':'", "a key without ':' or a line indented differently from its siblings"),
)


def _yaml_hint(message: str) -> str:
    """PyYAML/ruamel speak in scanner terms; say what the user most likely did."""
    return next((f" ({hint})" for needle, hint in _YAML_HINTS if needle in message), "")


def _read_text(path: Path, name: str) -> str:
    def fail(msg: str) -> TopologyError:
        return TopologyError([Issue("unreadable", "", msg, "error", name)])

    if path.is_dir():
        raise fail("is a directory, not a topology file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail("no such file (pass -f FILE, or run `pdcompose init` to write one)") from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise fail(f"is {len(raw)} bytes; a topology file is limited to {MAX_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"is not UTF-8 text (byte {exc.start})") from None


class _Plain:
    """Convert ruamel's round-trip nodes to plain data, recording positions and bounding expansion."""

    def __init__(self, source: Source, name: str):
        self.source, self.name, self.count = source, name, 0

    def convert(self, node: Any, loc: Loc) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            line, col = self.source.locate(loc)
            raise TopologyError([Issue("yaml-too-large", format_loc(loc), (
                f"the document expands to more than {MAX_NODES} values (YAML aliases nested "
                "inside aliases?); refusing to expand it"), "error", self.name, line, col)])
        if isinstance(node, dict):
            return self._mapping(node, loc)
        if isinstance(node, list):
            return [self._at(node, i, loc, "item") for i in range(len(node))]
        value = _scalar(node)
        if isinstance(value, str):
            self._check_text(value, loc)
        return value

    def _check_text(self, value: str, loc: Loc) -> None:
        """YAML decodes \\uD83D\\uDE80 as two lone surrogates, which no file or process can carry."""
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            line, col = self.source.locate(loc)
            raise TopologyError([Issue("invalid-unicode", format_loc(loc), (
                f"contains \\u{ord(value[exc.start]):04x}, half of a UTF-16 surrogate pair: write the character "
                "itself or a \\U00XXXXXX escape"), "error", self.name, line, col)]) from None

    def _mapping(self, node: dict[Any, Any], loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key in node:
            plain_key = _scalar(key)
            if isinstance(plain_key, str):
                self._check_text(plain_key, loc)
            if not isinstance(plain_key, str | int | float | bool) or plain_key is None:
                plain_key = str(plain_key)
            out[plain_key] = self._at(node, key, loc, "key", plain_key)
        return out

    def _at(self, node: Any, key: Any, loc: Loc, kind: str, plain_key: Any = None) -> Any:
        child_loc = (*loc, plain_key if kind == "key" else key)
        lc = getattr(node, "lc", None)
        try:
            line, col = lc.key(key) if kind == "key" else lc.item(key)  # type: ignore[union-attr]  # lc may be None: caught below
            self.source.positions[child_loc] = (line + 1, col + 1)
        except (AttributeError, KeyError, TypeError, IndexError):
            pass  # keys that came in through a merge (<<) have no position of their own
        return self.convert(node[key], child_loc)


def _scalar(value: Any) -> Any:
    """ruamel wraps scalars in subclasses (ScalarBoolean is an int!): unwrap to plain types."""
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    tagged = getattr(value, "value", None)           # TaggedScalar for unknown !tags
    return str(tagged if tagged is not None else value)
