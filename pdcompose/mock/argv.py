"""`vllm serve`'s own command-line parser, rebuilt from the catalog of the vLLM release the mock stands for.

vLLM's parser is argparse (`FlexibleArgumentParser`, vllm/utils/argparse_utils.py) with a pre-pass
that rewrites spellings and merges dotted JSON keys. The mock builds the same argparse parser from
`pdcompose.catalog` (every option of that release with its arity, choices and a type function that
fails like vLLM's), so a command line `vllm serve` refuses ends the mock the same way: argparse's
usage line, `vllm serve: error: ...` (or `vllm: error: unrecognized arguments: ...`) on stderr, exit
status 2 (tests/vllm/test_mock_parser.py compares the two on the same argv). Abbreviations behave as
in vLLM too (argparse's allow_abbrev), and an unknown flag is no longer guessed at.

What the parser cannot know without vLLM's config classes is left out: a JSON config's keys are
checked for syntax and for the choices the catalog lists, not for every pydantic rule.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails

from pdcompose import catalog as C
from pdcompose.catalog.flags import canonical

USAGE = "vllm serve [model_tag] [options]"       # vllm/entrypoints/cli/serve.py


class ArgvError(Exception):
    """What argparse would print before exiting 2: the usage line and `prog: error: message`."""

    def __init__(self, usage: str, line: str) -> None:
        super().__init__(line)
        self.usage = usage
        self.line = line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:       # argparse prints usage + this line, then exits 2
        raise ArgvError(self.format_usage(), f"{self.prog}: error: {message}")


# --- vLLM's type functions (vllm/engine/arg_utils.py), named as vLLM names them: argparse quotes the
# --- function's name ("invalid int value") or vLLM its repr ("cannot be converted to <class 'int'>")

def parse_type(return_type: Callable[[str], Any]) -> Callable[[str], Any]:
    def _parse_type(val: str) -> Any:
        try:
            return return_type(val)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"Value {val} cannot be converted to {return_type}.") from e
    return _parse_type


def optional_type(return_type: Callable[[str], Any]) -> Callable[[str], Any]:
    def _optional_type(val: str) -> Any:
        if val == "" or val == "None":
            return None
        return parse_type(return_type)(val)
    return _optional_type


def union_dict_and_str(val: str) -> Any:
    if not re.match(r"(?s)^\s*{.*}\s*$", val):
        return str(val)
    return optional_type(json.loads)(val)


def human_readable_int(value: str) -> int:
    value = value.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", value)
    if match:
        number, suffix = match.groups()
        if suffix in "kmgt":
            return int(float(number) * 10 ** (3 * ("kmgt".index(suffix) + 1)))
        try:
            return int(number) * 2 ** (10 * ("KMGT".index(suffix) + 1))
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                f"Decimals are not allowed with binary suffixes like {suffix}. Did you mean to use "
                f"{number}{suffix.lower()} instead?") from e
    return int(value)


def human_readable_int_or_auto(value: str) -> int:
    value = value.strip()
    if value == "-1" or value.lower() == "auto":
        return -1
    return human_readable_int(value)


# The catalog names a type function it could not classify ("any"); these are the ones whose failure
# it knows. Any other (a lambda, a plugin lookup) takes the value as text: the mock cannot judge it.
_CALLABLES: dict[str, Callable[[str], Any]] = {"human_readable_int_or_auto": human_readable_int_or_auto,
                                               "human_readable_int": human_readable_int, "bool": bool}


def _dataclass_type(cat: C.Catalog, config: str) -> Callable[[str], Any]:
    """vLLM's parse_dataclass: the JSON validated as the config class; its ValidationError's repr is the
    message. The mock has the catalog, not the class: JSON syntax, the object shape and listed choices."""
    def parse_dataclass(val: str) -> Any:
        try:
            value = TypeAdapter(Any).validate_json(val)
        except ValidationError as e:
            raise argparse.ArgumentTypeError(repr(_retitled(e, config))) from e
        problems = _config_problems(cat, config, value, ())
        if problems:
            raise argparse.ArgumentTypeError(repr(ValidationError.from_exception_data(config, problems, "json")))
        return value
    return parse_dataclass


def _retitled(e: ValidationError, title: str) -> ValidationError:
    details: list[InitErrorDetails] = []
    for err in e.errors():
        detail: InitErrorDetails = {"type": err["type"], "loc": err["loc"], "input": err["input"]}
        if "ctx" in err:
            detail["ctx"] = err["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(title, details, "json")


def _config_problems(cat: C.Catalog, config: str, value: Any, loc: tuple[str, ...]) -> list[InitErrorDetails]:
    if not isinstance(value, dict):
        return [{"type": "dataclass_type", "loc": loc, "input": value, "ctx": {"class_name": config}}]
    spec = cat.config(config)
    problems: list[InitErrorDetails] = []
    for key, sub in value.items() if spec else ():
        field = spec.fields.get(key) if spec else None
        if field is None:
            if spec and spec.extra == "forbid":
                problems.append({"type": "unexpected_keyword_argument", "loc": (*loc, key), "input": sub})
            continue
        if field.config and isinstance(sub, dict):
            problems += _config_problems(cat, field.config, sub, (*loc, key))
        elif field.choices and not field.loose and isinstance(sub, str) and sub not in field.choices:
            expected = " or ".join([", ".join(repr(c) for c in field.choices[:-1]), repr(field.choices[-1])]
                                   if len(field.choices) > 1 else [repr(field.choices[0])])
            problems.append({"type": "literal_error", "loc": (*loc, key), "input": sub,
                             "ctx": {"expected": expected}})
    return problems


def _type(cat: C.Catalog, spec: C.FlagSpec) -> Callable[[str], Any]:
    kinds: dict[str, Callable[[str], Any]] = {
        "int": human_readable_int if spec.human_readable else int, "float": float,
        "json": parse_type(json.loads), "json_or_str": union_dict_and_str}
    if spec.kind == "config" and spec.config:
        base = _dataclass_type(cat, spec.config)
    elif spec.kind == "any":
        base = _CALLABLES.get(spec.callable or "", str)
    else:
        base = kinds.get(spec.kind, str)
    return optional_type(base) if spec.optional and spec.kind != "json_or_str" else base


def _choices(spec: C.FlagSpec) -> list[Any] | None:
    if spec.choices is None:
        return None
    convert = int if spec.kind == "int" else float if spec.kind == "float" else str
    return [c if c == "None" else convert(c) for c in spec.choices]


# --- the parser ---------------------------------------------------------------------------------------

def build_parser(cat: C.Catalog) -> tuple[_Parser, _Parser]:
    """(the `vllm` parser, its `serve` subparser), with every option of `cat`'s `vllm serve`."""
    root = _Parser(prog="vllm")
    root.add_argument("-v", "--version", action="version", version=cat.vllm)
    serve = root.add_subparsers(dest="subparser").add_parser("serve", usage=USAGE)
    serve.add_argument("model_tag", type=str, nargs="?")
    for name, spec in cat.flags.items():
        if spec.kind == "help":
            continue                                    # argparse's own -h/--help
        options = [o for o in spec.options if o != f"--no-{name}"]   # BooleanOptionalAction adds it
        kwargs: dict[str, Any] = {"dest": spec.dest, "default": None}
        if spec.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif spec.kind == "switch":
            kwargs |= {"action": "store_true", "default": False}
        else:
            kwargs["type"] = _type(cat, spec)
            if spec.nargs is not None:
                kwargs["nargs"] = spec.nargs
            if spec.choices is not None:
                kwargs["choices"] = _choices(spec)
        serve.add_argument(*options, **kwargs)
    return root, serve


def parse_serve(cat: C.Catalog, argv: Sequence[str]) -> argparse.Namespace:
    """`argv` as `vllm serve` parses it ("serve" first); ArgvError when it would exit 2."""
    root, _ = build_parser(cat)
    return root.parse_args(preprocess(list(argv)))


def preprocess(args: list[str]) -> list[str]:
    """FlexibleArgumentParser.parse_args's pre-pass (vLLM 0.13.0, the same in 0.11.2-0.33.0 where the
    catalog's versions differ in flags only): --model moves to the front, underscores in option names
    become dashes, -O<n> is --optimization-level, dotted keys are merged into one JSON per flag."""
    args = _model_first(args)
    processed: list[str] = []
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            key, eq, value = arg.partition("=")
            processed.append(f"--{canonical(key)}{eq}{value}")     # one canonicaliser, the planner's too
        elif arg.startswith("-O") and arg != "-O":
            processed += ["--optimization-level", arg[3:] if arg[2] == "=" else arg[2:]]
        elif arg == "-O" and i + 1 < len(args) and args[i + 1] in {"0", "1", "2", "3"}:
            processed.append("--optimization-level")
        else:
            processed.append(arg)
    return _merge_dotted(processed)


def _model_first(args: list[str]) -> list[str]:
    if not args or args[0] != "serve":
        return args
    at = next((i for i, a in enumerate(args) if a == "--model" or a.startswith("--model=")), None)
    if at is None:
        return args
    if args[at] == "--model":
        if at + 1 >= len(args):
            return args                                 # vLLM would fail with an IndexError; argparse says it
        return ["serve", args[at + 1], *args[1:at], *args[at + 2:]]
    return ["serve", args[at].removeprefix("--model="), *args[1:at], *args[at + 1:]]


def _merge_dotted(processed: list[str]) -> list[str]:
    delete: set[int] = set()
    merged: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for i, arg in enumerate(processed):
        if i in delete or not (arg.startswith("-") and "." in arg):
            continue
        if "=" in arg:
            arg, value = arg.split("=", 1)
            if "." not in arg:
                continue                                # the dot was in the value
        elif i + 1 < len(processed):
            value = processed[i + 1]
            delete.add(i + 1)
        else:
            continue                                    # vLLM: IndexError; argparse reports the option
        if arg.endswith("+"):
            arg, value = arg[:-1], json.dumps(value.split(","))
        key, *keys = arg.split(".")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        for k in reversed(keys):
            parsed = {k: parsed}
        _update(merged[key], parsed)
        delete.add(i)
    out = [a for i, a in enumerate(processed) if i not in delete]
    for key, nested in merged.items():
        out += [key, json.dumps(nested)]
    return out


def _update(original: dict[str, Any], update: dict[str, Any]) -> None:
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(original.get(k), dict):
            _update(original[k], v)
        elif isinstance(v, list) and isinstance(original.get(k), list):
            original[k] += v
        else:
            original[k] = v
