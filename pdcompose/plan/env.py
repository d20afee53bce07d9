"""Environment layering: null removes an inherited variable; {interface}, {address} and {host} in a
value are replaced per host (presets use them); secrets stay references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pdcompose.plan.findings import Findings
from pdcompose.plan.hosts import HostFacts
from pdcompose.plan.models import SecretRef
from pdcompose.topology.source import Loc
from pdcompose.topology.types import FromEnv


def layered_env(layers: Iterable[tuple[Mapping[str, Any], Loc]], host: HostFacts,
                findings: Findings) -> dict[str, tuple[str | SecretRef, Loc]]:
    out: dict[str, tuple[str | SecretRef, Loc]] = {}
    for env, origin in layers:
        for key, value in env.items():
            if value is None:
                out.pop(key, None)
            elif isinstance(value, FromEnv):
                out[key] = (SecretRef(from_env=value.from_env), (*origin, key))
            else:
                out[key] = (_expand(str(value), host, (*origin, key), findings), (*origin, key))
    return out


def _expand(value: str, host: HostFacts, loc: Loc, findings: Findings) -> str:
    if "{" not in value:
        return value
    if "{interface}" in value and not host.interface:
        # Reported at the host (once), where the fix goes, even when the variable comes from a preset.
        findings.error("interface-missing", ("hosts", host.name), (
            f"{loc[-1]} (from {' '.join(map(str, loc[:-1]))}) uses {{interface}} but '{host.name}' has no "
            f"interface: set defaults.interface or hosts.{host.name}.interface (the NIC of its address)"))
    return (value.replace("{interface}", host.interface or "")
            .replace("{address}", host.address).replace("{host}", host.name))
