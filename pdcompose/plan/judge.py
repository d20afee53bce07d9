"""Every node's flags judged by the catalog of the vLLM its image runs (`pdcompose.catalog`).

What vLLM's own parser would do, said before anything is written: an unknown flag exits 2 (and an
abbreviation is silently taken for a longer flag, so it is refused here too), a config key a version
lacks is dropped silently or rejected depending on the version, a wrong type or choice fails at start.
A recipe states the vLLM versions it was written for: a recipe setting that a newer vLLM removed is
dropped and the adaptation stated; one an older vLLM does not have yet is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pdcompose import catalog as C
from pdcompose import suggest
from pdcompose.plan import flags as F
from pdcompose.plan.findings import Findings
from pdcompose.topology import Resolved
from pdcompose.topology.source import Loc

_HUMAN_INT = re.compile(r"^\d+(\.\d+)?[kKmMgGtT]$")


@dataclass
class Judge:
    cat: C.Catalog
    image: str
    recipe: str | None = None
    recipe_range: SpecifierSet | None = None
    adaptations: list[str] = field(default_factory=list)
    runs: str | None = None          # the release the image runs, when known (it may have no catalog)

    @property
    def who(self) -> str:
        return f"vLLM {self.cat.vllm}"

    @property
    def image_runs(self) -> str:
        """`<image> runs vLLM X`, or, when X has no catalog, which release's catalog judges it."""
        image = self.image or "the image"
        if self.runs and self.runs != self.cat.vllm:
            return f"{image} runs vLLM {self.runs}, judged by vLLM {self.cat.vllm}'s catalog (the nearest catalogued)"
        return f"{image} runs {self.who}"


def judge_flags(j: Judge, flags: F.FlagLayers, findings: Findings) -> None:
    """Check every flag; drop (and record) the recipe settings this version removed."""
    for name, flag in flags.items():
        head, dot, rest = name.partition(".")
        if dot:
            _dotted(j, flags, name, flag, head, tuple(rest.split(".")), findings)
        else:
            _plain(j, flags, name, flag, findings)


def judge_env(j: Judge, env: dict[str, tuple[Any, Loc]], findings: Findings) -> None:
    for name, (_, loc) in env.items():
        if name.startswith("VLLM_") and not j.cat.has_env(name):
            close = suggest.closest(name, j.cat.env)
            hint = f". Did you mean {close}?" if close else ""
            others = [v for v in C.versions() if C.load(v).has_env(name)]
            seen = f" (vLLM {', '.join(others)} read it)" if others else ""
            findings.warn("unknown-vllm-env", loc, f"{j.who} reads no variable {name}{seen}{hint}")


# --- plain flags -------------------------------------------------------------------------------------

def _plain(j: Judge, flags: F.FlagLayers, name: str, flag: F.Flag, findings: Findings) -> None:
    found = j.cat.flag(name)
    if found is None:
        _missing_flag(j, flags, name, flag, findings)
        return
    canonical, spec, _ = found
    if spec.deprecated:
        findings.warn("deprecated-flag", flag.origin, f"--{canonical} is deprecated in {j.who}: vLLM warns at "
                                                      "start and a later release removes it")
    problem = _value_problem(j, spec, canonical, flag.value) or _dash_problem(flag)
    if problem:
        findings.error("bad-flag-value", flag.origin, f"--{canonical}: {problem}")
    elif spec.kind == "config" and spec.config:
        value = F.json_value(flag.value)
        if isinstance(value, dict):
            kept = _config_keys(j, spec.config, spec.config, value, (), flag, findings)
            if kept != value:
                flags.replace(name, F.Flag(flag.name, kept, flag.joined, flag.origin))


def _missing_flag(j: Judge, flags: F.FlagLayers, name: str, flag: F.Flag, findings: Findings) -> None:
    had = C.history(name)
    if had and _from_recipe(flag) and all(_older(v, j) for v in had):
        flags.pop(name)
        _adapt(j, f"--{name} dropped: {j.who} removed it (last in vLLM {had[-1]})", flag, findings)
        return
    findings.error("unknown-flag", flag.origin, _unknown_text(j, name, had, j.cat.long_options(),
                                                              f"`vllm serve` of {j.who} has no --{name}"))


def _unknown_text(j: Judge, name: str, had: list[str], known: list[str], base: str, dashes: str = "--") -> str:
    parts = [base]
    if had:
        parts.append(f"it is in vLLM {', '.join(had)} (of the catalogued {', '.join(C.versions())})")
        if _recipe_note(j):
            parts.append(_recipe_note(j))
    prefixed = [k for k in known if k.startswith(name)] if dashes else []  # argparse abbreviates; pydantic not
    if len(prefixed) == 1:
        parts.append(f"vLLM's parser would silently take it as the abbreviation of {dashes}{prefixed[0]}: "
                     f"write {dashes}{prefixed[0]} in full")
    elif not had and dashes:
        parts.append("vLLM would exit 2 (unrecognized arguments)")
    close = suggest.closest(name, known) if len(prefixed) != 1 else None
    text = "; ".join(parts)
    return f"{text}. Did you mean {dashes}{close}?" if close else text


def _value_problem(j: Judge, spec: C.FlagSpec, name: str, value: Any) -> str | None:
    kind = spec.kind
    if kind == "help":
        return "prints help and exits: not for a server"
    if kind == "bool":
        return None if isinstance(value, bool) else "is a switch: write true (--flag) or false (--no-flag)"
    if kind == "switch":
        if value is True:
            return None
        return (f"cannot be negated in {j.who} (there is no --no-{name}): remove it" if value is False
                else "is a switch: write true")
    if isinstance(value, bool):
        return f"takes a value in {j.who}, not true/false"
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and spec.nargs not in ("+", "*") and not isinstance(spec.nargs, int):
        return "takes one value, not a list"
    for v in values:
        problem = _scalar_problem(spec, v)
        if problem:
            return problem
    return None


def _dash_problem(flag: F.Flag) -> str | None:
    """argparse reads a separate value that starts with '-' (and is not a number) as another option."""
    if flag.joined or isinstance(flag.value, bool | dict):
        return None
    for v in flag.value if isinstance(flag.value, list) else [flag.value]:
        text = F.text(v)
        if text.startswith("-") and not _is_float(text):
            return (f"the value {text!r} starts with '-': vLLM's parser would read it as another option; "
                    f"join it to the flag by ending the key with '=' ({flag.name}=: ...)")
    return None


def _scalar_problem(spec: C.FlagSpec, v: Any) -> str | None:
    text = F.text(v)
    if spec.optional and text == "None":
        return None
    if spec.choices is not None and text not in spec.choices:
        close = suggest.did_you_mean(text, spec.choices, show="{}")
        hint = f" ({close})" if close else ""
        return f"{text!r} is not one of {', '.join(c for c in spec.choices if c != 'None')}{hint}"
    if spec.kind == "int" and not _is_int(text, spec.human_readable):
        return f"{text!r} is not a whole number" + (" (or 16k, 1M, ...)" if spec.human_readable else "")
    if spec.kind == "float" and not _is_float(text):
        return f"{text!r} is not a number"
    if spec.kind in ("config", "json"):
        parsed = F.json_value(v)
        if spec.kind == "config" and not isinstance(parsed, dict):
            return "takes a mapping (passed as JSON)"
        if spec.kind == "json" and isinstance(parsed, str) and text.strip()[:1] in "{[":
            return "is not valid JSON"
    return None


def _is_int(text: str, human: bool) -> bool:
    try:
        int(text)
    except ValueError:
        return human and bool(_HUMAN_INT.match(text))
    return True


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- config keys (JSON values and dotted flags) ------------------------------------------------------

def _dotted(j: Judge, flags: F.FlagLayers, name: str, flag: F.Flag, head: str, path: tuple[str, ...],
            findings: Findings) -> None:
    found = j.cat.flag(head)
    if found is None:
        _missing_flag(j, flags, name, flag, findings)
        return
    canonical, spec, _ = found
    if spec.kind != "config" or not spec.config:
        findings.error("bad-flag-value", flag.origin, f"--{canonical} takes no JSON keys in {j.who} "
                                                      f"(--{name} is not a flag)")
        return
    append = path[-1].endswith("+")
    path = (*path[:-1], path[-1].removesuffix("+"))
    value = F.dotted_value(flag.value, append)
    if not _config_path(j, spec.config, path, value, flag, findings):
        flags.pop(name)


def _config_path(j: Judge, config: str, path: tuple[str, ...], value: Any, flag: F.Flag,
                 findings: Findings) -> bool:
    """Check one key path and its value; False when the key was dropped as an adaptation."""
    nested: dict[str, Any] = value
    for key in reversed(path):
        nested = {key: nested}
    kept = _config_keys(j, config, config, nested, (), flag, findings)
    return kept == nested


def _config_keys(j: Judge, root: str, config: str, value: dict[str, Any], path: tuple[str, ...], flag: F.Flag,
                 findings: Findings) -> dict[str, Any]:
    """The mapping with the keys this version removed (from a recipe) taken out; errors for the rest."""
    spec = j.cat.config(config)
    if spec is None:
        return value
    kept: dict[str, Any] = {}
    for key, sub in value.items():
        where = ".".join((*path, key))
        field_spec = spec.fields.get(key)
        if field_spec is None:
            if not _missing_key(j, root, config, (*path, key), flag, findings):
                kept[key] = sub
            continue
        kept[key] = sub
        if field_spec.config and isinstance(sub, dict):
            kept[key] = _config_keys(j, root, field_spec.config, sub, (*path, key), flag, findings)
            continue
        problem = _field_problem(field_spec, sub)
        if problem:
            findings.error("bad-config-value", flag.origin, f"{_flag_of(flag)} key {where}: {problem}")
    return kept


def _missing_key(j: Judge, root: str, config: str, path: tuple[str, ...], flag: F.Flag,
                 findings: Findings) -> bool:
    """Report a key the version lacks; True when it was dropped as a recipe adaptation."""
    where = ".".join(path)
    had = C.config_history(root, path)
    if had and _from_recipe(flag) and all(_older(v, j) for v in had):
        _adapt(j, f"{_flag_of(flag)} key {where} dropped: {j.who} removed it (last in vLLM {had[-1]})", flag,
               findings)
        return True
    fields = j.cat.config(config)
    known = sorted(fields.fields) if fields else []
    silent = fields is not None and fields.extra != "forbid"
    base = (f"{_flag_of(flag)} has no key {where} in {j.who}"
            + (" (vLLM would ignore it without a word)" if silent else " (vLLM would refuse to start)"))
    findings.error("unknown-config-key", flag.origin, _unknown_text(j, path[-1], had, known, base, dashes=""))
    return False


def _field_problem(spec: C.FieldSpec, value: Any) -> str | None:
    if value is None:
        return None if spec.optional else "cannot be null"
    kinds = set(spec.kinds)
    if "any" in kinds:
        return None
    if isinstance(value, str) and spec.choices:
        options = spec.choices if not spec.loose else [c.upper() for c in spec.choices]
        wanted = value.upper() if spec.loose else value
        if wanted in options:
            return None
        close = suggest.did_you_mean(value, spec.choices, show="{}")
        hint = f" ({close})" if close else ""
        return f"{value!r} is not one of {', '.join(spec.choices)}{hint}"
    if spec.loose:
        return None  # vLLM's own "before" validator takes more spellings than the annotation says
    if isinstance(value, bool):
        return None if "bool" in kinds else f"is {_kinds(kinds)}, not true/false"
    if isinstance(value, int) and kinds & {"int", "float"} or isinstance(value, float) and "float" in kinds:
        return None
    if isinstance(value, str) and kinds & {"str"}:
        return None
    if isinstance(value, list) and "list" in kinds or isinstance(value, dict) and kinds & {"dict", "config"}:
        return None
    return f"is {_kinds(kinds)}, not {type(value).__name__}"


def _kinds(kinds: set[str]) -> str:
    names = {"bool": "true/false", "int": "a whole number", "float": "a number", "str": "text",
             "choice": "a choice", "list": "a list", "dict": "a mapping", "config": "a mapping"}
    return " or ".join(sorted(names.get(k, k) for k in kinds))


# --- recipes and adaptations -------------------------------------------------------------------------

def _from_recipe(flag: F.Flag) -> bool:
    return bool(flag.origin) and str(flag.origin[0]).startswith("recipe ")


def _older(version: str, j: Judge) -> bool:
    return Version(version) < j.cat.version


def _recipe_note(j: Judge) -> str:
    if j.recipe and j.recipe_range is not None and j.cat.version not in j.recipe_range:
        return f"recipe {j.recipe} is written for vLLM {j.recipe_range}: pin an image in that range"
    return ""


def _adapt(j: Judge, text: str, flag: F.Flag, findings: Findings) -> None:
    line = f"{text}, for {j.image}" if j.image else text
    if line not in j.adaptations:
        j.adaptations.append(line)
    findings.warn("vllm-adapted", flag.origin, f"adapted: {text}")


def _flag_of(flag: F.Flag) -> str:
    return "--" + flag.name.split(".", 1)[0].replace("_", "-")


def make_judge(r: Resolved, image: str, findings: Findings) -> Judge:
    """The judge of the nodes running `image`: its vLLM's catalog, and the recipe's version range."""
    t = r.topology
    version = t.vllm_version or C.image_version(image)
    cat, note = C.choose(version)
    if note:
        where: Loc = ("vllm_version",) if t.vllm_version else ("image",)
        fix = ("set `vllm_version:` to the release the image runs" if version is None else
               "pin a catalogued release for exact checks")
        findings.warn("vllm-version", where, f"{image or 'the image'}: {note}; {fix}")
    recipe = next((x.vllm for x in reversed(r.recipes) if x.vllm), None)
    j = Judge(cat, image, t.recipe if recipe else None, SpecifierSet(recipe) if recipe else None, runs=version)
    _check_recipe_range(j, findings)
    return j


def _check_recipe_range(j: Judge, findings: Findings) -> None:
    spec = j.recipe_range
    if spec is None or j.cat.version in spec:
        return
    newer_in_range = [v for v in C.versions() if Version(v) in spec and Version(v) > j.cat.version]
    text = f"recipe {j.recipe} is written for vLLM {spec}; {j.image_runs}"
    if newer_in_range:
        findings.error("recipe-vllm-version", ("image",), (
            f"{text}, which lacks settings the recipe relies on: pin a release in that range, e.g. "
            f"vllm/vllm-openai:v{newer_in_range[0]}"))
    else:
        j.adaptations.append(f"{text}: its settings are judged by {j.who}; what that release lacks is dropped")
        findings.warn("vllm-adapted", ("image",), f"adapted: {text}: settings {j.who} no longer has are "
                                                  "dropped (each is listed)")
