"""Per-host facts the planner needs, with every default applied in one place."""

from __future__ import annotations

from dataclasses import dataclass

from pdcompose.topology import Resolved
from pdcompose.topology.presets import Profile


@dataclass(frozen=True)
class HostFacts:
    name: str
    address: str              # "" when the host has none (validated before it matters)
    context: str
    gpus: tuple[int | str, ...]
    interface: str | None
    profile_name: str | None
    profile: Profile | None
    gdrcopy: bool = False     # /dev/gdrdrv goes to its vLLM containers
    hf_cache: str | None = None   # its Hugging Face cache: the host's own `hf_cache:`, else the cluster's

    @property
    def url_host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address


def host_facts(resolved: Resolved) -> dict[str, HostFacts]:
    t = resolved.topology
    out = {}
    for name, host in t.hosts.items():
        profile = resolved.profile_of(name)
        gpus = host.gpus if host.gpus is not None else t.defaults.gpus
        if gpus is None:
            gpus = list(range(profile.gpus_per_host or 0)) if profile else []
        out[name] = HostFacts(
            name=name,
            address=host.address or "",
            context=host.context or name,
            gpus=tuple(gpus),
            interface=host.interface or t.defaults.interface,
            profile_name=host.profile or t.defaults.profile or _recipe_profile(resolved),
            profile=profile,
            gdrcopy=host.gdrcopy if host.gdrcopy is not None else t.defaults.gdrcopy,
            hf_cache=host.hf_cache or t.hf_cache,
        )
    return out


def _recipe_profile(resolved: Resolved) -> str | None:
    return next((r.profile for r in reversed(resolved.recipes) if r.profile), None)
