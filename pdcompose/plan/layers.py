"""Which settings apply to a node, lowest precedence first. One place, so the order is one fact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pdcompose.topology import Resolved
from pdcompose.topology.models import Instance, Node, Role
from pdcompose.topology.source import Loc


@dataclass(frozen=True)
class NodeRef:
    role: str
    instance: int
    node: int
    inst: Instance
    role_cfg: Role
    node_cfg: Node

    @property
    def loc(self) -> Loc:
        return (self.role, self.instance, "nodes", self.node)

    @property
    def inst_loc(self) -> Loc:
        return (self.role, self.instance)

    def setting(self, name: str) -> Any:
        """An instance-level setting, falling back to the role's."""
        value = getattr(self.inst, name)
        return value if value is not None else getattr(self.role_cfg, name)


def arg_layers(r: Resolved, ref: NodeRef) -> Iterator[tuple[dict[str, Any], Loc]]:
    for recipe in r.recipes:
        origin: Loc = (f"recipe {r.topology.recipe}",)
        yield recipe.args, (*origin, "args")
        yield getattr(recipe, ref.role).args, (*origin, ref.role, "args")
    yield r.topology.args, ("args",)
    yield ref.role_cfg.args, (ref.role, "args")
    yield ref.inst.args, (*ref.inst_loc, "args")
    yield ref.node_cfg.args, (*ref.loc, "args")


def env_layers(r: Resolved, ref: NodeRef) -> Iterator[tuple[dict[str, Any], Loc]]:
    host = ref.node_cfg.host
    profile = r.profile_of(host)
    if profile:
        yield profile.env, (f"profile of {host}",)
    for recipe in r.recipes:
        origin: Loc = (f"recipe {r.topology.recipe}",)
        yield recipe.env, (*origin, "env")
        yield getattr(recipe, ref.role).env, (*origin, ref.role, "env")
    yield r.topology.env, ("env",)
    yield r.topology.hosts[host].env, ("hosts", host, "env")
    yield ref.role_cfg.env, (ref.role, "env")
    yield ref.inst.env, (*ref.inst_loc, "env")
    yield ref.node_cfg.env, (*ref.loc, "env")


def node_refs(r: Resolved) -> list[NodeRef]:
    t = r.topology
    return [NodeRef(role, i, j, inst, t.role(role), node)
            for role in ("prefill", "decode")
            for i, inst in enumerate(t.role(role).instances)
            for j, node in enumerate(inst.nodes)]
