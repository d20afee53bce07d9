"""Cross-cutting checks drawn from failures reported in the field: things that would deploy and then
fail (errors) or work badly (warnings)."""

from __future__ import annotations

from pdcompose.plan.findings import Findings
from pdcompose.plan.models import Container, Host
from pdcompose.topology import Resolved


def lint(r: Resolved, hosts: list[Host], workers: list[Container], router: Container, findings: Findings) -> None:
    _router_api_key(workers, router, findings)
    _tp_asymmetry(r, workers, findings)
    _recommended_env(r, workers, findings)
    _unused_hosts(r, hosts, findings)
    _mixed_images(workers, findings)


def _router_api_key(workers: list[Container], router: Container, findings: Findings) -> None:
    """vLLM started with --api-key (or VLLM_API_KEY) rejects unauthenticated requests; vllm-router 0.1.17
    sends `Authorization: Bearer $OPENAI_API_KEY` from its own environment, never its --api-key flag."""
    keyed = [c.service for c in workers if "--api-key" in c.command or "VLLM_API_KEY" in c.env]
    if keyed and "OPENAI_API_KEY" not in router.env:
        findings.error("router-api-key", ("router", "env"), (
            f"{keyed[0]} requires an API key but the router would send none: vllm-router passes "
            "OPENAI_API_KEY from its environment to the workers; set router.env.OPENAI_API_KEY: "
            "{from_env: <the variable holding the key>}"))


def _tp_asymmetry(r: Resolved, workers: list[Container], findings: Findings) -> None:
    if any(x.mla for x in r.recipes):
        return  # MLA models (DeepSeek-V3 family) hand KV over between different TP sizes
    prefill = max((c.tp or 1 for c in workers if c.role == "prefill"), default=1)
    decode = min((c.tp or 1 for c in workers if c.role == "decode"), default=1)
    if decode < prefill:
        findings.warn("decode-tp-smaller", ("decode",), (
            f"decode tp {decode} is smaller than prefill tp {prefill}: NIXL hand-off between these TP "
            "sizes fails for non-MLA models (vllm#50765); use decode tp >= prefill tp"))


def _recommended_env(r: Resolved, workers: list[Container], findings: Findings) -> None:
    for c in workers:
        host = c.labels["io.pdcompose.host"]
        profile = r.profile_of(host)
        for name in profile.recommend_env if profile else []:
            if name not in c.env:
                findings.warn("recommended-env", ("hosts", host), (
                    f"{name} is unset on '{host}': UCX may pick the wrong NIC for the KV transfer (garbage "
                    f"tokens or half the bandwidth); set hosts.{host}.env.{name}, e.g. mlx5_0:1"))


def _unused_hosts(r: Resolved, hosts: list[Host], findings: Findings) -> None:
    used = {h.name for h in hosts}
    for name in r.topology.hosts:
        if name not in used:
            findings.warn("unused-host", ("hosts", name), "runs nothing: no instance or router uses it")


def _mixed_images(workers: list[Container], findings: Findings) -> None:
    images = sorted({c.image for c in workers})
    if len(images) > 1:
        findings.warn("mixed-images", ("image",), (
            f"prefill and decode run different images {images}: NIXL and UCX versions must match on both "
            "sides of a KV hand-off"))
