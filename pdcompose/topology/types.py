"""Field types whose errors read as one plain sentence.

Pydantic unions report one error per branch, with type names in the location ("str", "Node",
"list[Instance]"); that is noise in a config error. These validators accept every spelling we
support and otherwise raise a single message that says what is expected.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from pdcompose.frozen import Strict


def _pattern_str(pattern: str, what: str, max_len: int = 255, hint: Any = None) -> Any:
    regex = re.compile(pattern)

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected text: {what}")
        if len(value) > max_len or not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not valid: {what}" + (hint(value) if hint else ""))
        return value

    return Annotated[str, PlainValidator(check),
                     WithJsonSchema({"type": "string", "pattern": pattern, "description": what})]


if TYPE_CHECKING:  # to a type checker they are plain text; the validators are runtime values
    Name = str
    EnvName = str
    ArgKey = str
    ContextName = str
    Address = str
    Interface = str
    ImageRef = str
    VllmVersion = str
    AbsPath = str
    Revision = str
else:
    Name = _pattern_str(r"[a-z0-9][a-z0-9_-]{0,62}", "lowercase letters, digits, '-' and '_', starting with a letter "
                        "or digit, at most 63 (it becomes a Compose project, service and directory name)",
                        hint=lambda v: _fqdn_hint(v))
    EnvName = _pattern_str(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name (letters, digits, '_')")
    ArgKey = _pattern_str(r"(--)?[A-Za-z0-9][A-Za-z0-9_.+-]*=?", "a command-line flag such as max-num-seqs or "
                          "compilation_config.pass_config.fuse_attn_quant (no spaces or '=' inside)")
    ContextName = _pattern_str(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]*", "a Docker context name")
    Address = Annotated[str, PlainValidator(lambda v: _address(v)), WithJsonSchema(
        {"type": "string", "description": "an IPv4 or IPv6 address, or a host name (RFC 1123)"})]
    Interface = _pattern_str(r"[A-Za-z0-9_.:-]{1,15}", "a network interface name such as eth0 or enP22p3s0f1np1")
    ImageRef = _pattern_str(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}", "an image reference such as "
                            "vllm/vllm-openai:v0.13.0")
    VllmVersion = _pattern_str(r"\d{1,4}\.\d{1,4}\.\d{1,4}", "a vLLM release such as 0.13.0")
    AbsPath = _pattern_str(r"/[^\x00\n\r]*", "an absolute path on the host", 4096)
    # A git ref or commit as the hub takes it; no '..' or leading '/' (it names a folder in the cache).
    Revision = _pattern_str(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,127}", "a commit hash (40 hex digits), "
                            "branch or tag of the model's repository, such as main or v1.0")


def _fqdn_hint(value: str) -> str:
    """A fully qualified name is usually the name of the host's Docker context: say where it goes."""
    short = value.split(".", 1)[0].lower()
    if "." not in value or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", short):
        return ""
    return (f". For a fully qualified name, name the host {short!r} and give the rest its own fields: "
            f"{short}: {{context: {value}, address: {value}}} (context: the Docker context, default the host's "
            "name; address: how other hosts reach it)")


_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _address(value: Any) -> str:
    """An IP address (checked by `ipaddress`: 10.0.0.300 is not one) or an RFC 1123 host name."""
    import ipaddress

    if not isinstance(value, str):
        raise ValueError("expected text: an IP address or a host name")
    try:
        ipaddress.ip_address(value)
        return value                  # as written: it is what the user will grep for
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    if all(label.isdigit() for label in labels) or ":" in value:
        kind = "IPv6" if ":" in value else "IPv4"
        raise ValueError(f"{value!r} is not an {kind} address" + (
            " (each of the four parts is 0-255)" if kind == "IPv4" else ""))
    if len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"{value!r} is neither an IP address nor a host name (RFC 1123: letters, digits and "
                         "'-' in dot-separated parts of at most 63 characters)")
    return value


def _gpu(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1023:
        return value
    if isinstance(value, str) and re.fullmatch(r"GPU-[0-9a-fA-F-]{8,}", value):
        return value
    raise ValueError(f"{value!r} is not a GPU: use an index (0, 1, ...) or a UUID (GPU-...)")


GpuId = Annotated[int | str, PlainValidator(_gpu), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^GPU-"}]})]

_DURATION = re.compile(r"(\d{1,9})(s|m|h)?")


def _seconds(value: Any) -> int:
    """Durations are written like Compose's: 90, "90s", "15m", "2h". Stored as whole seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 30 * 86400:
        return value
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match:
        total = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
        if total <= 30 * 86400:
            return total
    raise ValueError(f"{value!r} is not a duration: write seconds (90) or 90s, 15m, 2h (at most 30 days)")


Seconds = Annotated[int, PlainValidator(_seconds), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d+(s|m|h)?$"}]})]


class FromEnv(Strict):
    """A secret: read from the deployer's environment when the containers start, never written."""

    from_env: EnvName


def _env_value(value: Any) -> Any:
    if value is None or isinstance(value, FromEnv):
        return value
    if isinstance(value, bool):
        raise ValueError("quote booleans in env (\"1\", \"true\"): programs read the text, and YAML's true "
                         "would not say which spelling you meant")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("environment values cannot contain NUL bytes")
        return value
    if isinstance(value, dict) and set(value) == {"value", "secret"}:
        return _not_secret(value)
    if isinstance(value, dict):
        if set(value) != {"from_env"} or not isinstance(value["from_env"], str) \
                or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value["from_env"]):
            raise ValueError("a secret is written {from_env: VARIABLE}: read from the deployer's environment "
                             "when the containers start, never written to a file")
        return FromEnv(from_env=value["from_env"])
    raise ValueError("an environment value is text, a number, {from_env: VAR} or null (null removes an "
                     "inherited value)")


def _not_secret(value: dict[str, Any]) -> str:
    """`{value: "...", secret: false}`: a literal for a variable whose name looks secret (topology/secrets.py)."""
    if value["secret"] is not False:
        raise ValueError("`secret:` beside `value:` can only be false (a variable that is not a secret); a secret "
                         "is written {from_env: VARIABLE}")
    if isinstance(value["value"], bool) or not isinstance(value["value"], str | int | float):
        raise ValueError("`value:` is text or a number")
    return str(value["value"])


EnvValue = Annotated[Any, PlainValidator(_env_value), WithJsonSchema({"anyOf": [
    {"type": "string"}, {"type": "number"}, {"type": "null"},
    {"type": "object", "properties": {"from_env": {"type": "string", "description": (
        "a secret: the deployer's environment variable that holds the value, read when the containers start")}},
     "required": ["from_env"],
     "additionalProperties": False},
    {"type": "object", "properties": {
        "value": {"type": ["string", "number"], "description": (
            "the literal value of a variable whose name looks like a secret's but is not one")},
        "secret": {"const": False, "description": (
            "false: this value is not a secret and may be written into compose.yaml as a literal")}},
     "required": ["value", "secret"], "additionalProperties": False}]})]

_SCALARS = (str, int, float, bool)


def _arg_value(value: Any) -> Any:
    if value is None or isinstance(value, _SCALARS):
        return _finite(value)
    if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError("a mapping value is passed as JSON and must be JSON-serialisable") from None
        return value
    raise ValueError("a flag value is true (bare flag), false (--no-flag), null (drop it), text or a number, "
                     "a list of those (one flag, several values) or a mapping (passed as JSON)")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError("NaN and infinity are not valid flag values")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("flag values cannot contain NUL bytes")
    return value


ArgValue = Annotated[Any, PlainValidator(_arg_value), WithJsonSchema({"anyOf": [
    {"type": ["string", "number", "boolean", "null"]},
    {"type": "array", "items": {"type": ["string", "number", "boolean"]}}, {"type": "object"}]})]
Args = dict[ArgKey, ArgValue]
Env = dict[EnvName, EnvValue]
