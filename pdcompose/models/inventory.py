"""What each host's HF cache holds of the plan's model: asked of every host at once, through its context, by
the agent in a helper container of the host's own vLLM image (already there: `images push` put it there),
the cache mounted. Hosts whose caches carry the same marker share one filesystem: they are one cache."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pdcompose.engine import agent
from pdcompose.engine.fanout import each_or_error
from pdcompose.plan.models import Host, Plan

DEFAULT_REVISION = "main"      # what vLLM loads when no revision is given


@dataclass(frozen=True)
class HostCache:
    host: str
    cache: str
    error: str | None = None
    cache_id: str = ""
    free: int = 0
    commit: str | None = None                               # the commit the wanted revision names there
    refs: dict[str, str] = field(default_factory=dict)
    snapshots: list[str] = field(default_factory=list)
    files: dict[str, list] = field(default_factory=dict)    # snapshot path -> [blob, size or None]
    blobs: dict[str, int] = field(default_factory=dict)
    partial: dict[str, int] = field(default_factory=dict)   # blob -> bytes of its .incomplete
    absent: bool = False                                    # no directory at the cache path on the host

    @property
    def complete(self) -> bool:
        return bool(self.files) and all(blob in self.blobs for blob, _ in self.files.values())

    @property
    def size(self) -> int:
        return sum({blob: self.blobs.get(blob, 0) for blob, _ in self.files.values()}.values())


@dataclass(frozen=True)
class Inventory:
    repo: str
    revision: str
    caches: dict[str, HostCache]          # host name -> its cache, in the plan's order

    def groups(self) -> dict[str, list[str]]:
        """cache id -> the hosts sharing it (first = the one that acts for all)."""
        out: dict[str, list[str]] = {}
        for name, c in self.caches.items():
            out.setdefault(c.cache_id or f"error:{name}", []).append(name)
        return out

    def shared_with(self, host: str) -> list[str]:
        c = self.caches[host]
        return [n for n in self.groups().get(c.cache_id, []) if n != host] if c.cache_id else []

    def representatives(self) -> list[str]:
        return [names[0] for names in self.groups().values()]


def rehearsed(plan: Plan, inv: Inventory) -> tuple[Inventory, list[str]]:
    """A rehearsal mounts no HF cache into its containers: a cache path that does not exist on the rehearsal's
    engine (the guide's /mnt/hf-cache on a laptop) is left out of the checks, and named; one that exists is
    checked as on real hosts. Elsewhere, the inventory as it is."""
    if not plan.rehearsal:
        return inv, []
    left = [n for n, c in inv.caches.items() if c.absent]
    return Inventory(inv.repo, inv.revision, {n: c for n, c in inv.caches.items() if not c.absent}), left


def model_hosts(plan: Plan, hosts: list[Host]) -> list[Host]:
    """The hosts that load the model: they run vLLM and have an HF cache (a router-only host needs none)."""
    return [h for h in hosts if h.hf_cache and any(c.role in ("prefill", "decode") for c in h.containers)]


def vllm_image(host: Host) -> str:
    return next(c.image for c in host.containers if c.role in ("prefill", "decode"))


def revision(plan: Plan) -> str:
    return plan.model_revision or DEFAULT_REVISION


def inventory(plan: Plan, hosts: list[Host], timeout: float = 30.0) -> Inventory:
    targets = model_hosts(plan, hosts)
    answers = each_or_error(lambda h: _ask(h, plan.model, revision(plan), timeout), targets)
    caches = {}
    for host, answer in zip(targets, answers, strict=True):
        assert host.hf_cache
        if isinstance(answer, Exception):
            caches[host.name] = HostCache(host.name, host.hf_cache, error=str(answer).removeprefix(f"{host.name}: "),
                                          absent=isinstance(answer, agent.NoCacheDir))
        else:
            caches[host.name] = answer
    return Inventory(plan.model, revision(plan), caches)


def _ask(host: Host, repo: str, rev: str, timeout: float) -> HostCache:
    assert host.hf_cache
    out = agent.ask(host, vllm_image(host), host.hf_cache, ["inventory", host.hf_cache, repo, rev], timeout)
    data = json.loads(out.strip().splitlines()[-1])
    if "error" in data:
        return HostCache(host.name, host.hf_cache, error=data["error"])
    return HostCache(host=host.name, cache=host.hf_cache, cache_id=data["cache_id"], free=data["free"],
                     commit=data["commit"], refs=data["refs"], snapshots=data["snapshots"], files=data["files"],
                     blobs=data["blobs"], partial=data["partial"])
