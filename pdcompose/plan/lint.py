"""Cross-cutting checks drawn from failures reported in the field: things that would deploy and then
fail (errors) or work badly (warnings)."""

from __future__ import annotations

from pdcompose import catalog as C
from pdcompose.plan.findings import Findings
from pdcompose.plan.models import Container, Host
from pdcompose.topology import Resolved
from pdcompose.topology.source import Loc


def lint(r: Resolved, hosts: list[Host], workers: list[Container], router: Container, findings: Findings) -> None:
    _router_api_key(workers, router, findings)
    _nixl_tp_ratio(workers, findings)
    _hybrid_lb_single_engine(workers, findings)
    _recommended_env(r, workers, findings)
    _gloo_interface(r, workers, findings)
    _unused_hosts(r, hosts, findings)
    _mixed_images(workers, findings)


def _router_api_key(workers: list[Container], router: Container, findings: Findings) -> None:
    """vLLM started with --api-key (or VLLM_API_KEY) rejects unauthenticated requests; vllm-router 0.1.17
    sends `Authorization: Bearer $OPENAI_API_KEY` from its own environment, never its --api-key flag."""
    keyed = [c.service for c in workers if "--api-key" in c.command or "VLLM_API_KEY" in c.env]
    if keyed and "OPENAI_API_KEY" not in router.env and "api_key" not in router.secrets:
        findings.error("router-api-key", ("router", "env"), (
            f"{keyed[0]} requires an API key but the router would send none: vllm-router passes "
            "OPENAI_API_KEY from its environment to the workers; set router.env.OPENAI_API_KEY: "
            "{from_env: <the variable holding the key>}, or better, use the top-level api_key: {from_env: VAR} "
            "(one secret file for both, never in `docker inspect`)"))


def _nixl_tp_ratio(workers: list[Container], findings: Findings) -> None:
    """NIXL pairs prefill and decode TP ranks by the ratio of their TP sizes, for every model (MLA
    included); which ratios work depends on the vLLM release (catalog/data/behaviour.yaml)."""
    prefill = sorted({c.tp or 1 for c in workers if c.role == "prefill"})
    for d in workers:
        if d.role != "decode" or not d.vllm_version:
            continue
        cat, dtp = C.load(d.vllm_version), d.tp or 1
        for ptp in prefill:
            if C.holds("nixl_decode_tp_multiple_of_prefill", cat):
                rule, ok = "nixl_decode_tp_multiple_of_prefill", dtp % ptp == 0
            else:
                rule, ok = "nixl_tp_sizes_divide", max(dtp, ptp) % min(dtp, ptp) == 0
            if not ok:
                b = C.behaviours()[rule]
                findings.error("nixl-tp-ratio", _loc(d, "tp"), (
                    f"decode tp {dtp} with prefill tp {ptp}: in vLLM {cat.vllm} {b.says} ({b.source}); the KV "
                    "hand-off fails at the first request. Choose tensor-parallel sizes that fit"))
                return


def _hybrid_lb_single_engine(workers: list[Container], findings: Findings) -> None:
    for c in workers:
        if not (c.dp and c.dp.nodes > 1 and c.dp.local == 1 and c.vllm_version):
            continue
        cat = C.load(c.vllm_version)
        if C.holds("hybrid_lb_needs_two_local_engines", cat) and "--enable-expert-parallel" not in c.command:
            b = C.behaviours()["hybrid_lb_needs_two_local_engines"]
            findings.error("hybrid-lb-one-engine", _loc(c, "dp_local"), (
                f"one data-parallel engine per node across {c.dp.nodes} nodes: in vLLM {cat.vllm} {b.says} "
                f"({b.source}); set dp_local: 2 or more, or run one single-node instance per host"))
            return


def _recommended_env(r: Resolved, workers: list[Container], findings: Findings) -> None:
    """One warning per variable, naming every host it is missing on (not one per host: six hosts, six
    copies of the same sentence)."""
    missing: dict[str, list[str]] = {}
    for c in workers:
        host = c.labels["io.pdcompose.host"]
        profile = r.profile_of(host)
        for name in profile.recommend_env if profile else []:
            if name not in c.env and host not in missing.setdefault(name, []):
                missing[name].append(host)
    for name, hosts in missing.items():
        if not hosts:
            continue
        where = f"on '{hosts[0]}'" if len(hosts) == 1 else f"on {len(hosts)} hosts ({', '.join(hosts)})"
        fix = f"hosts.{hosts[0]}.env.{name}" if len(hosts) == 1 else f"hosts.<host>.env.{name} on each"
        findings.warn("recommended-env", ("hosts", hosts[0]) if len(hosts) == 1 else ("hosts",), (
            f"{name} is unset {where}: UCX may pick the wrong NIC for the KV transfer (garbage tokens or half "
            f"the bandwidth); set {fix}, e.g. mlx5_0:1"))


def _gloo_interface(r: Resolved, workers: list[Container], findings: Findings) -> None:
    """A DP group across hosts coordinates over Gloo, which binds the address the host's NAME resolves to
    unless GLOO_SOCKET_IFNAME names the NIC: 127.0.1.1 on a default Debian or Ubuntu host, so the group never
    forms (found on the lab, where the name resolves to 127.0.0.1; the loopback rehearsal hides it). The
    gb200 and h100-ib presets set it; a topology without them is warned, once, naming the instances."""
    if r.topology.rehearsal.enabled:
        return
    bare = sorted({f"{c.role}-{c.instance}" for c in workers
                   if c.dp and c.dp.nodes > 1 and "GLOO_SOCKET_IFNAME" not in c.env})
    if bare:
        findings.warn("gloo-interface", ("env",), (
            f"{', '.join(bare)} span(s) several hosts but GLOO_SOCKET_IFNAME is unset: Gloo (vLLM's DP "
            "coordination) then binds the address each host's name resolves to, 127.0.1.1 on a default "
            "Debian or Ubuntu host, and the group never forms; set env.GLOO_SOCKET_IFNAME: \"{interface}\" "
            "and defaults.interface (or hosts.<host>.interface) to the NIC of the hosts' addresses"))


def _unused_hosts(r: Resolved, hosts: list[Host], findings: Findings) -> None:
    used = {h.name for h in hosts}
    unused = [name for name in r.topology.hosts if name not in used]
    if unused:
        findings.warn("unused-host", ("hosts", unused[0]), (
            "runs nothing: no instance or router uses it" if len(unused) == 1 else
            f"{len(unused)} hosts run nothing ({', '.join(unused)}): no instance or router uses them"))


def _mixed_images(workers: list[Container], findings: Findings) -> None:
    images = sorted({c.image for c in workers})
    if len(images) > 1:
        findings.warn("mixed-images", ("image",), (
            f"prefill and decode run different images {images}: NIXL and UCX versions must match on both "
            "sides of a KV hand-off"))


def _loc(worker: Container, field: str) -> Loc:
    """A worker's field in the topology: role, instance, field (a worker always has an instance)."""
    assert worker.instance is not None, worker.service
    return (worker.role, worker.instance, field)
