"""Secrets in a topology: literal values for secret-looking variables are refused, and no message ever
shows a value written where a secret belongs.

A token typed into the file would be written in plain text into every compose.yaml and plan.json (and
the repository that holds them). The fix is always `{from_env: VAR}`: read from the deployer's
environment when the containers start. A variable whose name only looks secret is opted out in place:
`MY_CACHE_KEY: {value: "abc", secret: false}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pdcompose.errors import Issue
from pdcompose.topology.source import Loc, Source

# HF_TOKEN, *_TOKEN, *_KEY, *_SECRET, *PASSWORD*; the vLLM and router API keys (VLLM_API_KEY,
# OPENAI_API_KEY, --api-key) and HUGGING_FACE_HUB_TOKEN are all caught by these shapes.
_SECRET_NAME = re.compile(r"^(TOKEN|KEY|SECRET|.*_TOKEN|.*_KEY|.*_SECRET|.*PASSWORD.*|.*PASSWD.*)$")
HIDDEN = "<hidden: a secret>"
SECRET_FIELDS = ("hf_token", "api_key")       # top-level fields that hold a secret ({from_env: VAR} only)
ENTRY_SECRETS = ("key", "client_keys")        # entry's fields that hold one ({from_file}/{from_env} only)


# Flags are matched more narrowly: --max-num-batched-tokens is no token. vLLM's two secret flags, and any
# flag that says it is a password or a secret.
_SECRET_FLAG = re.compile(r"^(api-key|hf-token|.*password.*|.*secret.*)$")


def is_secret_name(name: str) -> bool:
    """An environment variable (HF_TOKEN, VLLM_API_KEY) that holds a secret."""
    return bool(_SECRET_NAME.match(name.upper()))


def is_secret_flag(name: str) -> bool:
    """A command-line flag (api-key, --hf-token) that holds a secret."""
    return bool(_SECRET_FLAG.match(name.strip("-=").replace("_", "-").lower()))


def _is_secret(kind: str, name: str) -> bool:
    return is_secret_name(name) if kind == "env" else is_secret_flag(name)


def is_opt_out(value: Any) -> bool:
    """`{value: ..., secret: false}`: the user says this secret-looking variable is not a secret."""
    return isinstance(value, dict) and value.get("secret") is False and set(value) == {"value", "secret"}


# A token pasted where the NAME of its variable goes (`{from_env: hf_AbC...}`) is a valid variable name:
# caught by its shape, so that no later message ("hf_AbC... is not set") shows it.
_TOKEN_SHAPE = re.compile(r"(hf_|sk-|sk_|ghp_|gho_|glpat-|xox[abp]-)[A-Za-z0-9_-]{16,}|"
                          r"(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{24,}")


def looks_like_token(name: str) -> bool:
    return bool(_TOKEN_SHAPE.fullmatch(name))


def secret_values(data: Any) -> list[str]:
    """Every literal written where a secret belongs (to keep out of messages), longest first."""
    values = {str(v) for _, v, _ in _secret_slots(data) if isinstance(v, str | int | float) and str(v)}
    for field in SECRET_FIELDS:
        if isinstance(data, dict) and isinstance(data.get(field), str | int | float):
            values.add(str(data[field]))
    entry = data.get("entry") if isinstance(data, dict) else None
    for field in ENTRY_SECRETS:
        if isinstance(entry, dict) and isinstance(entry.get(field), str | int | float):
            values.add(str(entry[field]))
    values.update(name for _, name in _from_env_names(data) if looks_like_token(name))
    return sorted(values, key=len, reverse=True)


def literal_issues(source: Source) -> list[Issue]:
    """A located error, with the fix, for each literal value of a secret-looking variable or flag, and for
    each token pasted where the name of its variable goes."""
    issues = [source.issue("secret-literal", loc, (
        f"this looks like the token itself ({HIDDEN}), not the name of the variable that holds it: export the "
        "token as a variable (export HF_TOKEN=...) and write {from_env: HF_TOKEN}"))
        for loc, name in _from_env_names(source.data) if looks_like_token(name)]
    for loc, value, kind in _secret_slots(source.data):
        if isinstance(value, bool) or not isinstance(value, str | int | float) or is_opt_out(value):
            continue
        name = str(loc[-1])
        if kind == "env":
            fix = (f"write {name}: {{from_env: {name}}} (read from your environment when the containers start, "
                   f"never written to a file); if it is not a secret, write {name}: {{value: ..., secret: false}}")
        else:
            fix = ("pass it through the environment instead: env: {VLLM_API_KEY: {from_env: VLLM_API_KEY}} "
                   "(vLLM reads it like --api-key; the router sends OPENAI_API_KEY)" if "API" in name.upper()
                   else f"pass it through the environment, written {{from_env: VAR}}, not as --{name.strip('-=')}")
        issues.append(source.issue("secret-literal", loc, (
            f"a literal value for {name}, which looks like a secret, would be written in plain text into "
            f"compose.yaml and plan.json: {fix}")))
    return issues


def scrub(text: str, values: list[str]) -> str:
    for value in values:
        if len(value) >= 3:
            text = text.replace(value, HIDDEN)
    return text


def scrub_issue(issue: Issue, values: list[str]) -> Issue:
    import dataclasses

    message = scrub(issue.message, values)
    return issue if message == issue.message else dataclasses.replace(issue, message=message)


def _from_env_names(data: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """(location, name) of every `{from_env: NAME}` anywhere in the data."""
    if isinstance(data, list):
        for i, item in enumerate(data):
            yield from _from_env_names(item, (*loc, i))
    elif isinstance(data, dict):
        if isinstance(data.get("from_env"), str):
            yield (*loc, "from_env"), data["from_env"]
        for key, value in data.items():
            yield from _from_env_names(value, (*loc, key))


def _secret_slots(data: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any, str]]:
    """(location, value, "env"|"args") of every secret-looking key under an `env:` or `args:` mapping."""
    if isinstance(data, list):
        for i, item in enumerate(data):
            yield from _secret_slots(item, (*loc, i))
        return
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key in ("env", "args") and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(name, str) and _is_secret(key, name):
                    yield (*loc, key, name), item, key
        yield from _secret_slots(value, (*loc, key))


def is_secret_loc(loc: Loc) -> bool:
    """Whether a field path points at (or into) a value that holds a secret: hf_token, env.HF_TOKEN, ..."""
    if loc and loc[0] in SECRET_FIELDS:
        return True
    if len(loc) > 1 and loc[0] == "entry" and loc[1] in ENTRY_SECRETS:
        return True
    return any(part in ("env", "args") and i + 1 < len(loc) and isinstance(loc[i + 1], str)
               and _is_secret(str(part), str(loc[i + 1])) for i, part in enumerate(loc))
