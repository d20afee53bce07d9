"""A recipe states the hardware it was tuned on (`tuned_for:` in its file); hosts on other hardware get
one warning that names the recipe's settings that will not fit there, and why. (The settings still run:
the user may know better, e.g. a profile file of their own for the same GPUs.)"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pdcompose.errors import Issue
from pdcompose.topology.models import Topology
from pdcompose.topology.presets import Recipe, TunedFor
from pdcompose.topology.source import Source


def tuning_warnings(t: Topology, source: Source, recipes: list[Recipe], profile_refs: Mapping[str, str | None]
                    ) -> list[Issue]:
    tuned = next((r.tuned_for for r in reversed(recipes) if r.tuned_for), None)
    if tuned is None or t.recipe is None:
        return []
    elsewhere: dict[str, list[str]] = {}
    for host, ref in profile_refs.items():
        name = Path(ref).stem if ref else "none"
        if name not in tuned.profiles:
            elsewhere.setdefault(name, []).append(host)
    settings = _in_effect(t, tuned, recipes)
    if not settings:
        return []
    out = []
    for profile, hosts in elsewhere.items():
        listed = "; ".join(f"{path}: {why}" for path, why in settings.items())
        out.append(source.issue("recipe-hardware", ("recipe",), (
            f"recipe {t.recipe} is tuned for {', '.join(tuned.profiles)}, but host{'s' if len(hosts) > 1 else ''} "
            f"{', '.join(hosts)} use{'' if len(hosts) > 1 else 's'} "
            f"{'no profile' if profile == 'none' else 'profile ' + profile}; these settings will not fit there: "
            f"{listed}. Override them (env: {{NAME: null}}, args: {{flag: null}}, model: ...) or use a recipe for "
            "that hardware"), "warning"))
    return out


def _in_effect(t: Topology, tuned: TunedFor, recipes: list[Recipe]) -> dict[str, str]:
    """The tuned settings the topology has not overridden at its top level."""
    recipe_model = next((r.model for r in reversed(recipes) if r.model), None)
    out = {}
    for path, why in tuned.settings.items():
        kind, _, name = path.partition(".")
        overridden = (kind == "model" and t.model is not None and t.model != recipe_model) or \
            (kind == "env" and name in t.env) or (kind == "args" and name in t.args)
        if not overridden:
            out[path] = why
    return out
