"""Topology -> Plan. Pure: no I/O (presets were loaded by the topology layer)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from pdcompose import __version__
from pdcompose.errors import Issue
from pdcompose.plan import auth, entry, vllm
from pdcompose.plan.allocate import RPC_PORT, HostBook, allocate_node
from pdcompose.plan.findings import Findings
from pdcompose.plan.flags import canonical
from pdcompose.plan.hosts import HostFacts, host_facts
from pdcompose.plan.judge import Judge, make_judge
from pdcompose.plan.layers import NodeRef, node_refs
from pdcompose.plan.lint import lint
from pdcompose.plan.models import ConfigFile, Container, Firewall, Host, Plan, Router, Secret
from pdcompose.plan.monitoring import monitoring_host, prometheus
from pdcompose.plan.rehearsal import rehearse, substitutions
from pdcompose.plan.router import router_container
from pdcompose.plan.watchdog import watchdogs
from pdcompose.topology import Resolved
from pdcompose.topology.source import Loc


def build_plan(resolved: Resolved, *, rehearsal: bool | None = None) -> tuple[Plan, list[Issue]]:
    """The plan and its warnings. Raises TopologyError with every error found."""
    if rehearsal is None:
        rehearsal = resolved.topology.rehearsal.enabled
    if rehearsal:
        resolved = rehearse(resolved)
    findings = Findings(resolved.source, resolved.warnings)
    t = resolved.topology
    model = t.model or next((r.model for r in reversed(resolved.recipes) if r.model), None)
    if not model:
        findings.error("missing-model", ("model",), "missing: the model to serve (a Hugging Face id or a path)")
    if not t.image and not rehearsal:
        findings.error("missing-image", ("image",), "missing: the vLLM image to run, e.g. vllm/vllm-openai:v0.13.0")
    facts = host_facts(resolved)
    books = {name: HostBook(f) for name, f in facts.items()}
    judges: dict[str, Judge] = {}
    workers = _workers(resolved, facts, books, model or "", findings, judges)
    router_host = facts[t.router.host]
    router = router_container(resolved, router_host, workers, findings)
    door = entry.entry_containers(resolved, router_host, router)
    monitoring = None
    if t.monitoring.enabled:
        monitoring = prometheus(resolved, facts[monitoring_host(resolved)], workers, router, router_host)
    guards = watchdogs(resolved, workers, {name: f.address for name, f in facts.items()})
    hosts = _hosts(resolved, facts, workers, router, monitoring, guards, door)
    lint(resolved, hosts, workers, router, findings)
    _check_ports(hosts, findings)
    findings.raise_errors()
    plan = Plan(
        pdcompose_version=__version__, cluster=t.name, source=resolved.source.name, model=model or "",
        served_model_name=_served_name(workers, model or ""), rehearsal=rehearsal, fingerprint="",
        health_timeout=t.health.deploy_timeout, access=t.access,
        adaptations=[line for j in judges.values() for line in j.adaptations],
        substitutions=substitutions(t, model or ""), model_revision=t.model_revision,
        secrets=_secrets(resolved, {"hf_token", auth.SECRET, *entry.SECRET_NAMES}),
        firewall=Firewall(allow=sorted(t.firewall.allow)) if t.firewall.enabled else None,
        entry=entry.entry_plan(resolved, router_host),
        hosts=hosts, router=Router(host=router_host.name, url=router.url,
                                   prefill_urls=[c.url for c in workers if c.role == "prefill"],
                                   decode_urls=[c.url for c in workers if c.role == "decode"]))
    return plan.model_copy(update={"fingerprint": fingerprint(plan)}), findings.warnings


def fingerprint(plan: Plan) -> str:
    """Identifies what runs (not where the file was): tags bench results and deploy state."""
    # A host's arch says where things run, not what runs, and its interface is already in the env it names:
    # plans from before either keep their fingerprint.
    data = plan.model_dump(mode="json", exclude={"fingerprint": True, "source": True, "pdcompose_version": True,
                                                 "hosts": {"__all__": {"arch", "interface"}}})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _workers(r: Resolved, facts: dict[str, HostFacts], books: dict[str, HostBook], model: str,
             findings: Findings, judges: dict[str, Judge]) -> list[Container]:
    out = []
    masters: dict[tuple[str, int], tuple[HostFacts, int]] = {}
    for ref in node_refs(r):
        image = ref.setting("image") or r.topology.image or ""
        if image not in judges:
            judges[image] = make_judge(r, image, findings)
        flags = vllm.node_flags(r, ref)
        first = ref.inst.nodes[0]
        first_gpus = len(first.gpus) if first.gpus is not None else len(facts[first.host].gpus)
        shape = vllm.node_shape(r, ref, flags, first_gpus, findings)
        book = books[ref.node_cfg.host]
        alloc = allocate_node(book, ref.loc, shape.gpus, ref.node_cfg.gpus, ref.setting("port"),
                              ref.setting("nixl_port"), findings, first_rank=ref.node * shape.dp_local)
        key = (ref.role, ref.instance)
        if ref.node == 0:
            masters[key] = (book.facts, ref.setting("rpc_port") or RPC_PORT + alloc.slot)
        master, rpc_port = masters[key]
        inputs = vllm.NodeInputs(ref, book.facts, master, shape, alloc, rpc_port, image, model, judges[image])
        container = vllm.vllm_container(r, inputs, flags, findings)
        out.append(container.model_copy(update={"labels": {**container.labels,
                                                           "io.pdcompose.host": ref.node_cfg.host}}))
    return out


def _hosts(r: Resolved, facts: dict[str, HostFacts], workers: list[Container], router: Container,
           monitoring: tuple[Container, list[ConfigFile]] | None,
           guards: list[tuple[Container, list[ConfigFile]]],
           door: tuple[list[Container], list[ConfigFile]]) -> list[Host]:
    t = r.topology
    out = []
    for name, f in facts.items():
        mine = [c for c in workers if c.labels["io.pdcompose.host"] == name]
        configs: list[ConfigFile] = []
        if name == t.router.host:
            mine += [router, *door[0]]
            configs += door[1]
        if monitoring and name == monitoring_host(r):
            mine.append(monitoring[0])
            configs += monitoring[1]
        for guard, files in guards:
            if guard.labels["io.pdcompose.host"] == name:
                mine.append(guard)
                configs += files
        if not mine:
            continue
        # Hardware a profile requires matters where vLLM runs: a router-only host needs no IMEX channel.
        runs_vllm = any(c.role in ("prefill", "decode") for c in mine)
        requires = list(f.profile.requires) if f.profile and runs_vllm and not t.rehearsal.enabled else []
        used = {s for c in mine for s in c.secrets}
        secrets = _secrets(r, used)
        arch = f.profile.arch if f.profile and not t.rehearsal.enabled else None
        out.append(Host(name=name, address=f.address, context=f.context, project=f"{t.name}-{name}",
                        profile=f.profile_name, arch=arch, requires=requires, secrets=secrets,
                        containers=[_labelled(c, t.name, name, r.image_ids) for c in mine], configs=configs,
                        hf_cache=f.hf_cache if runs_vllm else None, interface=f.interface))
    return out


def _secrets(r: Resolved, used: set[str]) -> list[Secret]:
    """The Compose secrets among `used`: the field's name is the secret's name."""
    t = r.topology
    given = {"hf_token": t.hf_token, auth.SECRET: t.api_key}
    out = [Secret(name=name, from_env=ref.from_env) for name, ref in given.items() if ref and name in used]
    return out + [s for s in entry.secrets(r) if s.name in used]


def _labelled(c: Container, cluster: str, host: str, image_ids: Mapping[str, str]) -> Container:
    labels = {"io.pdcompose.cluster": cluster, "io.pdcompose.host": host, **c.labels}
    update: dict[str, object] = {}
    if c.image in image_ids:  # pinned by the images lock: never pull, and say which image it must be
        labels["io.pdcompose.image-id"] = image_ids[c.image]
        update = {"image_id": image_ids[c.image], "pull_policy": "never"}
    return c.model_copy(update={**update, "labels": dict(sorted(labels.items()))})


def _served_name(workers: list[Container], model: str) -> str:
    """The first name /v1/models lists: --served-model-name in any spelling vLLM's parser accepts
    (`--served_model_name`, `--served-model-name=x`, several names), else the model."""
    for c in workers:
        for i, token in enumerate(c.command):
            if not token.startswith("--"):
                continue
            name, joined, value = token.partition("=")
            if canonical(name) != "served-model-name":
                continue
            if joined:
                return value
            if i + 1 < len(c.command) and not c.command[i + 1].startswith("--"):
                return c.command[i + 1]
    return model


NIXL_PURPOSE = "NIXL side channel"
NIXL_NOTE = (" (an engine's NIXL side channel listens on nixl_port + its global data-parallel rank, so the "
             "node of an instance whose engines are ranks 4-7 uses nixl_port+4 .. nixl_port+7)")


def _check_ports(hosts: list[Host], findings: Findings) -> None:
    for host in hosts:
        taken: dict[int, tuple[str, str]] = {}
        for c in host.containers:
            for use in c.ports:
                for port in range(use.port, use.port + use.count):
                    if port in taken:
                        other_service, other_purpose = taken[port]
                        nixl = NIXL_NOTE if NIXL_PURPOSE in (use.purpose, other_purpose) else ""
                        findings.error("port-collision", _loc_of(c), (
                            f"port {port} on host '{host.name}' is taken twice: by {c.service} ({use.purpose}) "
                            f"and by {other_service} ({other_purpose}); set a different port, rpc_port or "
                            f"nixl_port{nixl}"))
                    elif port > 65535:
                        findings.error("port-range", _loc_of(c), f"{use.purpose} range of {c.service} "
                                                                 f"passes port 65535")
                    else:
                        taken[port] = (c.service, use.purpose)


def _loc_of(c: Container) -> Loc:
    if c.role == "router":
        return ("router",)
    if c.role == "monitoring":
        return ("monitoring", "port")
    if c.role == "entry":
        return ("entry",)
    if c.role == "watchdog":
        return ("recovery",)
    assert c.instance is not None and c.node is not None, c.service    # every worker has both
    return (c.role, c.instance, "nodes", c.node)


__all__ = ["NodeRef", "build_plan", "fingerprint"]
