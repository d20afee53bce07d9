"""The one quoting filter every value in a template goes through.

Output is a YAML double-quoted scalar built from JSON string syntax (valid YAML 1.2), with three
additions: `$` is doubled so Compose does not interpolate user text; characters YAML may not carry
raw (C1 controls, DEL, BOM, non-characters) or that YAML 1.1 parsers treat as line breaks (NEL,
U+2028, U+2029) are escaped; and a secret becomes `${VAR:?...}`, the only interpolation we emit.
"""

from __future__ import annotations

import json
import re

from pdcompose.plan.models import SecretRef

_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]")


def q(value: object) -> str:
    if isinstance(value, SecretRef):
        name = value.from_env
        return f'"${{{name}:?{name} is not set: pdcompose reads it from the environment when the containers start}}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = json.dumps(str(value).replace("$", "$$"), ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def seconds(value: int) -> str:
    return f"{int(value)}s"
