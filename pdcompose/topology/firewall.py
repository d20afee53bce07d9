"""`firewall:` in the topology: per-host nftables rules rendered with the bundle, applied only by
`pdcompose firewall apply` (never by deploy)."""

from __future__ import annotations

from pydantic import Field

from pdcompose.frozen import Strict
from pdcompose.topology.types import Address


class Firewall(Strict):
    enabled: bool = Field(False, description=(
        "render <host>/firewall.nft: only the cluster's hosts (and `allow`) reach the worker, DP RPC, NIXL and "
        "metrics ports; everyone reaches the entry port. Applied by `pdcompose firewall apply`, never by deploy"))
    allow: list[Address] = Field(default_factory=list, description=(
        "further addresses that may reach every port (the machine you run pdcompose from, a Prometheus "
        "elsewhere); the cluster's own hosts always may"))
