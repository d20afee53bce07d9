"""Turn pydantic's ValidationError into located, readable Issues.

Each message says what is wrong in the user's terms (the YAML type they wrote, the key they
misspelled and the key they probably meant) and carries the file, line and field path.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from pdcompose import suggest
from pdcompose.errors import Issue
from pdcompose.topology.secrets import HIDDEN, is_secret_loc
from pdcompose.topology.source import Loc, Source


def issues_from(exc: ValidationError, source: Source, root: type[BaseModel]) -> list[Issue]:
    seen: set[tuple[Loc, str]] = set()
    errors = [(clean_loc(tuple(e["loc"]), source.data), e) for e in exc.errors(include_url=False)]
    meant = _misspelt(errors, root)
    out = []
    for loc, err in errors:
        if err["type"] == "missing" and loc in meant:
            continue      # `node:` for `nodes:`: one error, the unknown key with its "did you mean"
        if is_secret_loc(loc):                      # never repeat what was written where a secret goes
            err = {**err, "input": _Hidden()}
        message = _message(err, loc, root)
        if (loc, message) not in seen:
            seen.add((loc, message))
            out.append(source.issue(err["type"].replace("_", "-"), loc, message))
    return out


def _misspelt(errors: list[tuple[Loc, ErrorDetails]], root: type[BaseModel]) -> set[Loc]:
    """The locations of required keys that an unknown key beside them was probably meant to be."""
    out = set()
    for loc, err in errors:
        if err["type"] == "extra_forbidden" and loc:
            close = suggest.closest(str(loc[-1]), _fields_at(root, loc[:-1]))
            if close:
                out.add((*loc[:-1], close))
    return out


def clean_loc(loc: Loc, data: Any) -> Loc:
    """Drop parts of pydantic's location that are not in the user's data (shorthand expansions)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict):
            out.append(part)
            node = node.get(part) if part in node else None
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if 0 <= part < len(node) else None
        elif node is None:
            out.append(part)
        # else: a list met a field name ("instances" of the list shorthand): not in the file
    return tuple(out)


class _Hidden:
    """Stands for a value given for a secret field, in messages."""


def _message(err: ErrorDetails, loc: Loc, root: type[BaseModel]) -> str:
    kind, msg = err["type"], err["msg"]
    if loc == ("hf_token",) and isinstance(err.get("input"), _Hidden) and kind == "model_type":
        return ("a token is never written in the file (it would land in plain text in every compose.yaml): "
                "write hf_token: {from_env: HF_TOKEN} and export HF_TOKEN where you run pdcompose")
    if loc == ("api_key",) and isinstance(err.get("input"), _Hidden) and kind == "model_type":
        return ("an API key is never written in the file (it would land in plain text in every compose.yaml): "
                "write api_key: {from_env: VLLM_API_KEY} and export VLLM_API_KEY where you run pdcompose")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        return f"unknown key '{key}'{_did_you_mean(key, _fields_at(root, loc[:-1]))}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'" if loc else "missing required key"
    if kind == "value_error":
        return str(msg).removeprefix("Value error, ")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value), got {_yaml_type(err.get('input'))}"
    if kind == "too_short":
        need = err.get("ctx", {}).get("min_length", 1)
        return f"needs at least {need} entr{'y' if need == 1 else 'ies'}; it is empty"
    if kind == "list_type":
        return f"expected a list, got {_yaml_type(err.get('input'))}"
    if kind == "literal_error":
        return f"{_shown(err.get('input'))} is not one of the allowed values: {msg.split('Input should be ', 1)[-1]}"
    return f"{msg[0].lower()}{msg[1:]} (got {_shown(err.get('input'))})" if msg else "invalid value"


def _shown(value: Any) -> str:
    if isinstance(value, _Hidden):
        return HIDDEN
    text = repr(value) if isinstance(value, str | int | float | bool) or value is None else _yaml_type(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {_shown(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, _Hidden):
        return f"a value ({HIDDEN})"
    return "nothing (null)" if value is None else type(value).__name__


def _did_you_mean(key: str, candidates: list[str]) -> str:
    close = suggest.did_you_mean(key, candidates)
    if close:
        return f"; {close}"
    return f"; allowed here: {', '.join(sorted(candidates))}" if candidates else ""


def _fields_at(root: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model that sits at `loc` (walking through lists, dicts and Optionals)."""
    current: Any = root
    for part in loc:
        model = _model_in(current)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            current = model.model_fields[part].annotation
            continue
        if model is not None and isinstance(part, int) and _shorthand_list(model):
            current = _shorthand_list(model)     # `prefill: [...]` is `prefill: {instances: [...]}`
            continue
        origin, args = typing.get_origin(current), typing.get_args(_unannotated(current))
        if origin in (list, dict) or typing.get_origin(_unannotated(current)) in (list, dict):
            current = args[-1] if args else None
        else:
            return []
    model = _model_in(current)
    return list(model.model_fields) if model else []


def _shorthand_list(model: type[BaseModel]) -> Any:
    """The item type of a model's only required list field (Role.instances), which a bare list stands for."""
    lists = [f.annotation for f in model.model_fields.values()
             if f.is_required() and typing.get_origin(_unannotated(f.annotation)) is list]
    return typing.get_args(_unannotated(lists[0]))[0] if len(lists) == 1 else None


def _unannotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _model_in(tp: Any) -> type[BaseModel] | None:
    tp = _unannotated(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _model_in(arg)
            if found:
                return found
    return None
