"""The vllm-router container: one `--prefill`/`--decode` URL per API server (every node, under
hybrid load balancing), in the guide's flag order."""

from __future__ import annotations

from typing import Any

from pdcompose import defaults
from pdcompose.plan import auth
from pdcompose.plan import flags as F
from pdcompose.plan.env import layered_env
from pdcompose.plan.findings import Findings
from pdcompose.plan.hosts import HostFacts
from pdcompose.plan.models import Container, Healthcheck, PortUse
from pdcompose.topology import Resolved

RESERVED = ("vllm-pd-disaggregation", "prefill", "decode", "host", "port", "intra-node-data-parallel-size",
            "policy", "prefill-policy", "decode-policy", "max-concurrent-requests", "prometheus-port",
            "prometheus-host", "worker-startup-timeout-secs", "worker-startup-check-interval",
            "health-check-interval-secs", "worker-urls", "mini-lb", "service-discovery")


GROUP_HEALTH_INTERVAL = 5


def router_container(r: Resolved, host: HostFacts, workers: list[Container], findings: Findings) -> Container:
    t, cfg = r.topology, r.topology.router
    prefill = [c.url for c in workers if c.role == "prefill"]
    decode = [c.url for c in workers if c.role == "decode"]
    user = F.FlagLayers()
    user.apply(cfg.args, ("router", "args"))
    for name in RESERVED:
        flag = user.get(name)
        if flag is not None:
            findings.error("conflicting-arg", flag.origin, (
                f"`{' '.join(F.tokens(flag))}` is derived by pdcompose; set it with router fields "
                "(port, policy, max_concurrent_requests, ...) or the instances"))
    command = [*_derived(r, host, prefill, decode, workers, findings), *F.argv(f for _, f in user.items())]
    env = {k: v for k, (v, _) in layered_env([(cfg.env, ("router", "env"))], host, findings).items()}
    if t.api_key and auth.ROUTER_VAR in env:
        findings.error("conflicting-env", ("router", "env", auth.ROUTER_VAR), (
            f"{auth.ROUTER_VAR} conflicts with the topology: the router reads it from the secret file of "
            "`api_key:`; remove it"))
        env.pop(auth.ROUTER_VAR)
    entrypoint = ["vllm-router"]
    on_host = [c.service for c in workers if c.labels.get("io.pdcompose.host") == host.name]
    bind = _bind_address(t, host)
    return Container(
        service="router", role="router", image=_image(t), command=command, secrets=[auth.SECRET] if t.api_key else [],
        entrypoint=auth.keyed_entrypoint(entrypoint, auth.ROUTER_VAR) if t.api_key else entrypoint,
        pull_policy="never" if t.rehearsal.enabled else t.pull_policy, env=dict(sorted(env.items())),
        ports=[PortUse(port=cfg.port, purpose="router", bind=bind),
               PortUse(port=cfg.prometheus_port, purpose="router metrics", bind=host.address)],
        url=f"http://{host.url_host}:{cfg.port}",
        healthcheck=Healthcheck(test=["CMD", "python3", "-c", (
            f"import urllib.request; urllib.request.urlopen('http://{_local(bind)}:{cfg.port}/health', timeout=4)")],
            interval=5, timeout=5, retries=3, start_period=60),
        depends_on=on_host, restart=t.restart, stop_grace_period=min(t.stop_grace_period, 30),
        labels={"io.pdcompose.role": "router"},
    )


def _bind_address(t: Any, host: HostFacts) -> str:
    # A rehearsal runs every "host" on one engine: each binds its own loopback address, the router too. Behind
    # an entry the router is no door: on its host's (cluster) address only.
    return host.address if t.rehearsal.enabled or t.entry is not None else "0.0.0.0"


def _reads_engine_counts(image: str) -> bool:
    """Whether the router image is one that reads each worker's engine count (0.1.17 on, or ours)."""
    from packaging.version import InvalidVersion, Version

    if image == defaults.ROUTER_IMAGE:
        return True
    tag = image.rsplit(":", 1)[-1].lstrip("v") if ":" in image.rsplit("/", 1)[-1] else ""
    try:
        return Version(tag) >= Version(defaults.ROUTER_VERSION)
    except InvalidVersion:
        return False                  # an unknown router: keep the warning


def _local(bind: str) -> str:
    return "127.0.0.1" if bind == "0.0.0.0" else (f"[{bind}]" if ":" in bind else bind)


def _image(t: Any) -> str:
    if t.rehearsal.enabled:
        return t.rehearsal.router_image or defaults.ROUTER_IMAGE
    return t.router.image or defaults.ROUTER_IMAGE


def _derived(r: Resolved, host: HostFacts, prefill: list[str], decode: list[str], workers: list[Container],
             findings: Findings) -> list[str]:
    t, cfg = r.topology, r.topology.router
    recipe_router = [x.router for x in r.recipes]
    policy: str | None = cfg.policy or next((x.policy for x in reversed(recipe_router) if x.policy), None)
    max_conc = cfg.max_concurrent_requests or next(
        (x.max_concurrent_requests for x in reversed(recipe_router) if x.max_concurrent_requests), None)
    out = ["--policy", policy] if policy else []
    out.append("--vllm-pd-disaggregation")
    out += ["--max-concurrent-requests", str(max_conc)] if max_conc else []
    for url in prefill:
        out += ["--prefill", url]
    for url in decode:
        out += ["--decode", url]
    out += ["--host", _bind_address(t, host), "--port", str(cfg.port)]
    intra = _intra_node_dp(workers, findings, _image(t))
    out += ["--intra-node-data-parallel-size", str(intra)] if intra > 1 else []
    health_interval = cfg.health_check_interval
    if health_interval is None and t.rehearsal.enabled:
        health_interval = t.rehearsal.health_check_interval
    if health_interval is None and any(c.dp and c.dp.nodes > 1 for c in workers):
        # The group watchdogs take a broken group out by failing its /health: the router's default (60 s x 3
        # failures) would keep sending it requests for 3 minutes; 5 s makes that 15 s.
        health_interval = GROUP_HEALTH_INTERVAL
    optional = [("--prefill-policy", cfg.prefill_policy), ("--decode-policy", cfg.decode_policy),
                ("--prometheus-port", cfg.prometheus_port if cfg.prometheus_port != 29000 else None),
                # 0.1.17 binds its metrics to 127.0.0.1 by default: unreachable for a scraper on another host
                ("--prometheus-host", host.address),
                ("--worker-startup-timeout-secs", cfg.startup_timeout),
                ("--worker-startup-check-interval", cfg.startup_check_interval),
                ("--health-check-interval-secs", health_interval)]
    for flag, value in optional:
        if value is not None:
            out += [flag, str(value)]
    return out


def _intra_node_dp(workers: list[Container], findings: Findings, image: str) -> int:
    """vllm-router 0.1.17 counts each worker's engines from its /metrics; this flag is only the
    fallback, and it is one number for prefill and decode (vllm-project/router#222). So mixed counts are
    worth a warning only for a router not known to read /metrics: a warning that needs no action would
    fail `validate --strict` on a correct topology (examples/rehearsal-real.yaml)."""
    sizes = sorted({c.dp.local if c.dp else 1 for c in workers})
    if len(sizes) > 1 and not _reads_engine_counts(image):
        findings.warn("router-dp-size", ("router",), (
            f"instances run {sizes} engines per node but the router takes one "
            f"--intra-node-data-parallel-size; using {sizes[-1]} (0.1.17 reads each worker's count from "
            "its /metrics, so this is only the fallback)"))
    return sizes[-1] if sizes else 1
