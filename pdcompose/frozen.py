"""The one base for pdcompose's data models: frozen (a plan, a preset or a catalog entry never changes
after it is built; derived values are properties) and closed (an unknown key is an error, never ignored).
`Strict` is the same for what a user writes, with pydantic's strict mode: "8087" is not silently an int,
"yes" is not silently a bool."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Strict(Frozen):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
