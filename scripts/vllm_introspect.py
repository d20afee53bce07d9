"""Read one installed vLLM and print its catalog as JSON: run by the Python of a vLLM venv.

    <venv>/bin/python scripts/vllm_introspect.py > catalog.json

Imports nothing from pdcompose (it runs in vLLM's environment, not ours). What it reads:
- every `vllm serve` flag, from the parser `vllm serve` itself builds (`ServeSubcommand.subparser_init`);
- the fields of every config dataclass a flag takes as JSON (kv-transfer-config, compilation-config,
  and the dataclasses nested in them, e.g. pass_config), with their kinds and literal choices;
- the names of the `VLLM_*` variables `vllm/envs.py` reads.
The output is deterministic (sorted), so a regenerated catalog can be compared with the shipped one.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import sys
import types
import typing
from typing import Any

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")


def serve_parser() -> argparse.ArgumentParser:
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    root = FlexibleArgumentParser(prog="vllm")
    return ServeSubcommand().subparser_init(root.add_subparsers())


# --- types of flag values ----------------------------------------------------------------------------

def _closure(fn: Any) -> dict[str, Any]:
    cells = fn.__closure__ or ()
    return {name: cell.cell_contents for name, cell in zip(fn.__code__.co_freevars, cells, strict=False)}


def describe_type(fn: Any) -> dict[str, Any]:
    """What an argparse `type=` callable accepts, looking through vLLM's wrappers."""
    if fn is None:
        return {"kind": "str"}
    if fn in (int, float, str):
        return {"kind": fn.__name__}
    name = getattr(fn, "__name__", "")
    if name == "_optional_type":
        return {**describe_type(_closure(fn)["return_type"]), "optional": True}
    if name == "_parse_type":
        return describe_type(_closure(fn)["return_type"])
    if name == "parse_dataclass":
        cls = (fn.__defaults__ or (None,))[0]
        return {"kind": "config", "config": cls.__name__}
    if name == "human_readable_int":
        return {"kind": "int", "human_readable": True}
    if name == "loads":  # json.loads
        return {"kind": "json"}
    if name == "union_dict_and_str":
        return {"kind": "json_or_str"}
    if isinstance(fn, type) and issubclass(fn, enum.Enum):
        return {"kind": "choice"}
    return {"kind": "any", "callable": name or type(fn).__name__}


def _deprecated(action: argparse.Action) -> bool:
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return bool(getattr(action, "deprecated", False)) or action in getattr(FlexibleArgumentParser, "_deprecated", ())


def describe_action(action: argparse.Action) -> dict[str, Any]:
    out: dict[str, Any] = {"options": sorted(action.option_strings), "dest": action.dest}
    if isinstance(action, argparse.BooleanOptionalAction):
        out |= {"kind": "bool", "negatable": True}
    elif isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction | argparse._StoreConstAction):
        out |= {"kind": "switch"}
    elif isinstance(action, argparse._HelpAction | argparse._VersionAction):
        out |= {"kind": "help"}
    else:
        out |= describe_type(action.type)
        if action.nargs is not None:
            out["nargs"] = action.nargs
    if action.choices is not None:
        out["choices"] = sorted(str(c) for c in action.choices)
    if _deprecated(action):
        out["deprecated"] = True
    return out


def long_name(action: argparse.Action) -> str:
    longs = [o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
    return (longs or action.option_strings)[0].lstrip("-")


# --- config dataclasses -----------------------------------------------------------------------------

def _hints(tp: Any) -> list[Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _hints(args[0])
    if origin in (typing.Union, types.UnionType):
        return [h for a in args for h in _hints(a)]
    return [tp]


def describe_field(tp: Any, nested: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(tp)
    out: dict[str, Any] = {}
    if type(None) in hints:
        out["optional"] = True
        hints = [h for h in hints if h is not type(None)]
    kinds: list[str] = []
    for h in hints:
        origin = typing.get_origin(h) or h
        if dataclasses.is_dataclass(h):
            kinds.append("config")
            out["config"] = h.__name__
            nested[h.__name__] = h
        elif origin is typing.Literal:
            kinds.append("choice")
            out.setdefault("choices", []).extend(str(a) for a in typing.get_args(h))
        elif isinstance(h, type) and issubclass(h, enum.Enum):
            kinds.append("choice")
            out.setdefault("choices", []).extend(h.__members__)
        elif origin in (list, tuple, set, frozenset):
            kinds.append("list")
        elif origin is dict:
            kinds.append("dict")
        elif h in (bool, int, float, str):
            kinds.append(h.__name__)
        else:
            kinds.append("any")
    out["kinds"] = sorted(set(kinds))
    if "choices" in out:
        out["choices"] = sorted(set(out["choices"]))
    return out


def describe_config(cls: type, nested: dict[str, Any]) -> dict[str, Any]:
    pyd = getattr(cls, "__pydantic_config__", None) or {}
    decorators = getattr(cls, "__pydantic_decorators__", None)
    loose: set[str] = set()
    if decorators is not None:  # a "before" validator may accept more than the annotation says
        for dec in decorators.field_validators.values():
            if dec.info.mode in ("before", "wrap", "plain"):
                loose.update(dec.info.fields)
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        info = describe_field(hints.get(f.name, f.type), nested)
        if f.name in loose:
            info["loose"] = True
        fields[f.name] = info
    return {"extra": pyd.get("extra", "ignore"), "fields": fields}


def configs_of(flags: dict[str, Any], parser: argparse.ArgumentParser) -> dict[str, Any]:
    roots: dict[str, Any] = {}
    for action in parser._actions:
        fn = action.type
        while getattr(fn, "__name__", "") in ("_optional_type", "_parse_type"):
            fn = _closure(fn)["return_type"]
        if getattr(fn, "__name__", "") == "parse_dataclass":
            cls = fn.__defaults__[0]
            roots[cls.__name__] = cls
    out: dict[str, Any] = {}
    pending = dict(roots)
    while pending:
        name, cls = pending.popitem()
        if name in out:
            continue
        nested: dict[str, Any] = {}
        out[name] = describe_config(cls, nested)
        pending.update({k: v for k, v in nested.items() if k not in out})
    return dict(sorted(out.items()))


def env_names() -> list[str]:
    import vllm.envs as envs

    return sorted(envs.environment_variables)


def main() -> None:
    from importlib.metadata import version

    parser = serve_parser()
    flags: dict[str, Any] = {}
    positionals: list[str] = []
    for action in parser._actions:
        if not action.option_strings:
            positionals.append(action.dest)
            continue
        flags[long_name(action)] = describe_action(action)
    catalog = {
        "vllm": version("vllm").split("+")[0],
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "positionals": positionals,
        "flags": dict(sorted(flags.items())),
        "configs": configs_of(flags, parser),
        "env": env_names(),
    }
    json.dump(catalog, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
