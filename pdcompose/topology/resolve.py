"""Layer 3 of validation: references. Hosts named by roles exist and are addressable; presets exist.

The result, `Resolved`, is everything the (pure) planner needs: the topology, its source positions
and the presets it names, already loaded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pdcompose import suggest
from pdcompose.errors import Issue, TopologyError
from pdcompose.topology.entry import issues as entry_issues
from pdcompose.topology.models import ROLES, Topology
from pdcompose.topology.presets import PresetNotFound, Profile, Recipe, load_profile, load_recipe_chain
from pdcompose.topology.source import Loc, Source
from pdcompose.topology.tuning import tuning_warnings


@dataclass(frozen=True)
class Resolved:
    topology: Topology
    source: Source
    base_dir: Path
    recipes: tuple[Recipe, ...] = ()                  # root first; later entries override
    profiles: Mapping[str, Profile] = field(default_factory=dict)   # by host name
    warnings: tuple[Issue, ...] = ()
    image_ids: Mapping[str, str] = field(default_factory=dict)      # from the images lock, if any

    def profile_of(self, host: str) -> Profile | None:
        return self.profiles.get(host)


def resolve(topology: Topology, source: Source, base_dir: Path) -> Resolved:
    issues: list[Issue] = []
    recipes = _recipes(topology, source, base_dir, issues)
    profiles = _profiles(topology, source, base_dir, recipes, issues)
    _check_hosts(topology, source, issues)
    _check_gpu_counts(topology, source, profiles, issues)
    recipe_profile = next((r.profile for r in reversed(recipes) if r.profile), None)
    refs = {name: _profile_ref(topology, name, recipe_profile)[0] for name in topology.hosts}
    issues += tuning_warnings(topology, source, recipes, refs)
    if topology.entry is not None:
        issues += entry_issues(topology.entry, source, base_dir)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise TopologyError(issues)
    return Resolved(topology, source, base_dir, tuple(recipes), profiles, tuple(issues))


def _recipes(t: Topology, source: Source, base_dir: Path, issues: list[Issue]) -> list[Recipe]:
    if t.recipe is None:
        return []
    try:
        return load_recipe_chain(t.recipe, base_dir)
    except PresetNotFound as exc:
        issues.append(source.issue("unknown-recipe", ("recipe",), str(exc)))
    except TopologyError as exc:
        issues.extend(exc.issues)
    return []


def _profiles(t: Topology, source: Source, base_dir: Path, recipes: list[Recipe],
              issues: list[Issue]) -> dict[str, Profile]:
    recipe_profile = next((r.profile for r in reversed(recipes) if r.profile), None)
    out: dict[str, Profile] = {}
    loaded: dict[str, Profile | None] = {}
    for name in t.hosts:
        ref, loc = _profile_ref(t, name, recipe_profile)
        if ref is None:
            continue
        if ref not in loaded:
            try:
                loaded[ref] = load_profile(ref, base_dir)
            except PresetNotFound as exc:
                issues.append(source.issue("unknown-profile", loc, str(exc)))
                loaded[ref] = None
            except TopologyError as exc:
                issues.extend(exc.issues)
                loaded[ref] = None
        profile = loaded[ref]
        if profile is not None:
            out[name] = profile
    return out


def _check_gpu_counts(t: Topology, source: Source, profiles: Mapping[str, Profile], issues: list[Issue]) -> None:
    """A profile states its GPUs per host: an index past them names a GPU the host does not have. One
    error per list, at its first wrong entry; a list from `defaults` names every host it is wrong for."""
    wrong: dict[Loc, tuple[list[str], str]] = {}
    for name, host in t.hosts.items():
        profile = profiles.get(name)
        count = profile.gpus_per_host if profile else None
        gpus, where = (host.gpus, ("hosts", name, "gpus")) if host.gpus is not None else (
            t.defaults.gpus, ("defaults", "gpus"))
        if count is None or gpus is None:
            continue
        ref = _profile_ref(t, name, None)[0] or "(the recipe's)"
        beyond = [(i, g) for i, g in enumerate(gpus) if isinstance(g, int) and g >= count]
        if beyond:
            listed = ", ".join(str(g) for _, g in beyond)
            message = (f"GPU{'s' if len(beyond) > 1 else ''} {listed} do{'' if len(beyond) > 1 else 'es'} not exist: "
                       f"profile {ref} has {count} GPUs per host (0-{count - 1})")
            wrong.setdefault((*where, beyond[0][0]), ([], message))[0].append(name)
        elif len(gpus) > count:
            wrong.setdefault(where, ([], f"{len(gpus)} GPUs listed; profile {ref} has {count} per host"))[0].append(
                name)
    for loc, (hosts, message) in wrong.items():
        on = f" (hosts {', '.join(hosts)})" if loc[0] == "defaults" else ""
        issues.append(source.issue("gpu-beyond-profile", loc, message + on))


def _profile_ref(t: Topology, host: str, recipe_profile: str | None) -> tuple[str | None, Loc]:
    if t.hosts[host].profile:
        return t.hosts[host].profile, ("hosts", host, "profile")
    if t.defaults.profile:
        return t.defaults.profile, ("defaults", "profile")
    return recipe_profile, ("recipe",)


def _check_hosts(t: Topology, source: Source, issues: list[Issue]) -> None:
    known = list(t.hosts)
    for role in ROLES:
        for i, inst in enumerate(t.role(role).instances):
            for j, node in enumerate(inst.nodes):
                loc = (role, i, "nodes", j)
                _check_host_ref(t, source, node.host, loc, known, issues, "a vLLM node")
    _check_host_ref(t, source, t.router.host, ("router", "host"), known, issues, "the router")
    if t.monitoring.enabled and t.monitoring.host:
        _check_host_ref(t, source, t.monitoring.host, ("monitoring", "host"), known, issues, "Prometheus")
    _check_addresses(t, source, issues)


def _check_host_ref(t: Topology, source: Source, name: str, loc: Loc, known: list[str],
                    issues: list[Issue], what: str) -> None:
    if name not in t.hosts:
        hint = suggest.did_you_mean(name, known)
        hint = f"{hint} " if hint else ""
        issues.append(source.issue("unknown-host", loc, f"unknown host '{name}'; {hint}hosts: {', '.join(known)}"))
    elif not t.hosts[name].address:
        issues.append(source.issue("host-without-address", ("hosts", name), (
            f"{what} runs on '{name}', which has no address: other hosts reach it there "
            f"(router URLs, --data-parallel-address, NIXL side channel); add `address:`")))


def _check_addresses(t: Topology, source: Source, issues: list[Issue]) -> None:
    seen: dict[str, str] = {}
    for name, host in t.hosts.items():
        if not host.address:
            continue
        if host.address in seen:
            issues.append(source.issue("duplicate-address", ("hosts", name, "address"), (
                f"{host.address} is also the address of '{seen[host.address]}'; every host needs its own")))
        seen[host.address] = name
        if t.rehearsal.enabled:
            continue  # rehearsal replaces every address with its own loopback one
        try:
            ip = ipaddress.ip_address(host.address)
        except ValueError:
            bad = host.address.lower() == "localhost"
        else:
            bad = ip.is_loopback or ip.is_unspecified
        if bad:
            issues.append(source.issue("loopback-address", ("hosts", name, "address"), (
                f"{host.address} only reaches the host itself; other hosts dial this address (NIXL side "
                "channel, data-parallel master, router URLs): give its routable address")))
