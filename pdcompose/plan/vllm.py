"""One `vllm serve` container per node: argv, env, GPUs, devices, ports and health check.

Multi-node data parallelism is the guide's hybrid load balancing: every node runs an API server for
its own `dp_local` engines, the first node of an instance is the DP master, and the router lists every
node. pdcompose derives the DP flags; a user flag that contradicts one is an error, not an override.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdcompose import defaults
from pdcompose.hardware import GDRDRV
from pdcompose.plan import auth
from pdcompose.plan import flags as F
from pdcompose.plan.allocate import RPC_PORT, NodeAllocation
from pdcompose.plan.env import layered_env
from pdcompose.plan.findings import Findings
from pdcompose.plan.hosts import HostFacts
from pdcompose.plan.judge import Judge, judge_env, judge_flags
from pdcompose.plan.layers import NodeRef, arg_layers, env_layers
from pdcompose.plan.models import Container, DataParallel, Healthcheck, PortUse, SecretRef, Ulimit
from pdcompose.plan.rehearsal import cpu_blockers, cpu_env, cpu_flags, real_engine
from pdcompose.topology import Resolved
from pdcompose.topology.source import format_loc

SECRET_DIR = "/run/secrets"
RESERVED = {
    "model": "the model is `model:` (vllm serve takes it positionally; --model is deprecated)",
    "host": "each API server listens on its host's address only (`address:`), not on every interface",
    "port": "set the API port with `port:` on the role or instance",
    "tensor-parallel-size": "set `tp:` on the role or instance",
    "data-parallel-size": "it is nodes x dp_local: change the instance's nodes or `dp_local:`",
    "data-parallel-size-local": "set `dp_local:` on the role or instance",
    "data-parallel-start-rank": "it follows from the node's position in the instance",
    "data-parallel-rank": "ranks follow from the node's position in the instance",
    "data-parallel-address": "it is the address of the instance's first node",
    "data-parallel-rpc-port": "set `rpc_port:` on the role or instance",
    "data-parallel-hybrid-lb": "multi-node instances run one API server per node (hybrid load balancing)",
    "data-parallel-external-lb": "multi-node instances use hybrid load balancing",
    "headless": "every node serves the API so the router can reach each one",
    "revision": "set `model_revision:` (pdcompose models status/pull/push check and fetch that revision)",
}
DERIVED_ENV = {
    "VLLM_NIXL_SIDE_CHANNEL_HOST": "it is the node's own address, which the decode dials",
    "VLLM_NIXL_SIDE_CHANNEL_PORT": "set `nixl_port:` on the role or instance",
    "HF_HOME": "it follows from `hf_cache:`",
    "HF_TOKEN_PATH": "it follows from `hf_token:`",
    "VLLM_API_KEY": "it is read from the secret file of `api_key:`",
}


@dataclass(frozen=True)
class Shape:
    """The parallel layout of one node, known before GPUs and ports are allocated."""

    tp: int
    pp: int
    dp_local: int
    nodes: int

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp_local


def node_flags(r: Resolved, ref: NodeRef) -> F.FlagLayers:
    layers = F.FlagLayers()
    for args, origin in arg_layers(r, ref):
        layers.apply(args, origin)
    return layers


def node_shape(r: Resolved, ref: NodeRef, flags: F.FlagLayers, first_host_gpus: int,
               findings: Findings) -> Shape:
    tp = ref.setting("tp") or next((x.tp for x in reversed(r.recipes) if x.tp), 1)
    pp_flag = flags.get("pipeline-parallel-size")
    pp = pp_flag.value if pp_flag and isinstance(pp_flag.value, int) and pp_flag.value > 0 else 1
    dp_local = ref.setting("dp_local")
    if dp_local is None:
        dp_local = first_host_gpus // (tp * pp)
        if dp_local < 1:
            findings.error("tp-exceeds-gpus", (*ref.inst_loc, "tp"), (
                f"tp {tp} x pipeline {pp} needs {tp * pp} GPUs per node; the first node has "
                f"{first_host_gpus}: lower tp or use bigger nodes"))
            dp_local = 1
    return Shape(tp, pp, dp_local, len(ref.inst.nodes))


@dataclass(frozen=True)
class NodeInputs:
    ref: NodeRef
    host: HostFacts
    master: HostFacts
    shape: Shape
    alloc: NodeAllocation
    rpc_port: int
    image: str
    model: str
    judge: Judge | None = None      # the catalog of the vLLM the image runs


def _cpu_blockers(flags: F.FlagLayers, findings: Findings) -> None:
    for name, why in cpu_blockers(flags):
        flag = flags.get(name)
        assert flag is not None
        shown = " ".join(F.tokens(flag))
        findings.error("cpu-engine-unsupported", flag.origin, (
            f"`{shown}` cannot run in a real-engine rehearsal: {why}, and the rehearsal runs vLLM's CPU build. "
            "Rehearse this topology with the mock (--engine mock, or rehearsal.engine: mock), or set it to "
            "null for the rehearsal in a copy of the topology"))


def vllm_container(r: Resolved, n: NodeInputs, flags: F.FlagLayers, findings: Findings) -> Container:
    t, ref, rehearsal = r.topology, n.ref, r.topology.rehearsal.enabled
    dp = DataParallel(size=n.shape.nodes * n.shape.dp_local, local=n.shape.dp_local,
                      start_rank=ref.node * n.shape.dp_local, address=n.master.address,
                      rpc_port=n.rpc_port, nodes=n.shape.nodes)
    derived = _derived_flags(n, dp, None if real_engine(t) else t.model_revision)
    for name in _check_reserved(flags, derived, findings):
        flags.pop(name)  # says what pdcompose derives anyway: redundant, not a conflict
    model = n.model
    if real_engine(t):  # the real engine on CPU: the tiny local model, served under the plan's name
        _cpu_blockers(flags, findings)
        flags.apply(cpu_flags(t, flags), ("rehearsal", "engine"))
        if flags.get("served-model-name") is None:
            flags.apply({"served-model-name": n.model}, ("rehearsal", "engine"))
        model = defaults.VLLM_CPU_MODEL
    if n.judge:
        judge_flags(n.judge, flags, findings)
    _merge_configs(flags, findings)
    _check_kv_transfer(flags, ref, findings)
    command = [model, *F.argv(f for _, f in flags.items()), *F.argv(derived.values())]
    bind = n.host.address            # --host: only the plan's address (not 0.0.0.0, every interface)
    return Container(
        service=f"{ref.role}-{ref.instance}-node-{ref.node}", role=ref.role, instance=ref.instance,
        node=ref.node, image=n.image, pull_policy="never" if rehearsal else t.pull_policy,
        entrypoint=auth.keyed_entrypoint(["vllm", "serve"], auth.WORKER_VAR) if t.api_key else ["vllm", "serve"],
        command=command, env=_env(r, n, findings),
        secrets=[*(["hf_token"] if t.hf_token else []), *([auth.SECRET] if t.api_key else [])],
        gpus=[str(g) for g in n.alloc.gpus],
        gpu_driver=None if rehearsal else (n.host.profile.gpu_driver if n.host.profile else "nvidia"),
        devices=_devices(n.host, rehearsal),
        cap_add=list(n.host.profile.cap_add) if n.host.profile else [],
        ulimits=_ulimits(n.host, rehearsal),
        ipc=n.host.profile.ipc if n.host.profile else "host",
        volumes=[f"{n.host.hf_cache}:{n.host.hf_cache}"] if n.host.hf_cache and not rehearsal else [],
        ports=_ports(n, dp, bind), dp=dp if dp.size > 1 else None, tp=n.shape.tp,
        vllm_version=n.judge.cat.vllm if n.judge else None,
        url=f"http://{n.host.url_host}:{n.alloc.api_port}",
        healthcheck=_healthcheck(t, f"http://{n.host.url_host}:{n.alloc.api_port}/health"),
        restart=restart_policy(t.restart, n.shape.nodes), stop_grace_period=t.stop_grace_period,
        labels={"io.pdcompose.role": ref.role, "io.pdcompose.instance": str(ref.instance),
                "io.pdcompose.node": str(ref.node)},
    )


def restart_policy(policy: str, nodes: int) -> str:
    """The topology's `restart:` for a single-node instance; "no" for every node of a multi-node one.

    A multi-node DP group forms once, at start-up, around its master's coordinator: a node that
    Docker restarts alone cannot rejoin the running group (it reloads the model, then hangs or fails
    the handshake, and with `unless-stopped` loops forever), and a restarted master leaves the other
    nodes' engines without a group. `on-failure:N` would only bound the loop: each attempt is a full
    model load that cannot succeed. So such a node stays exited, `pdcompose status` names the broken
    group, and `pdcompose restart --instance` restarts the whole group, master first."""
    return "no" if nodes > 1 else policy


def _derived_flags(n: NodeInputs, dp: DataParallel, revision: str | None) -> dict[str, F.Flag]:
    """`revision`: the pinned model revision (None for the real-engine rehearsal: its tiny model is a folder)."""
    values: dict[str, Any] = {"port": n.alloc.api_port, "tensor-parallel-size": n.shape.tp}
    if revision:
        values["revision"] = revision
    if dp.size > 1:
        values |= {"data-parallel-size": dp.size, "data-parallel-size-local": dp.local}
        if dp.nodes > 1:
            if dp.start_rank:
                values["data-parallel-start-rank"] = dp.start_rank
            values["data-parallel-address"] = dp.address
        values["data-parallel-rpc-port"] = dp.rpc_port
        if dp.nodes > 1:
            values["data-parallel-hybrid-lb"] = True
    # Only the host's own address: a worker's port is then not served on every other interface (docker0,
    # a management network); and in a rehearsal several "hosts" share one engine, each its loopback address.
    values["host"] = n.host.address
    return {k: F.Flag(k, v, False, ("derived",)) for k, v in values.items()}


def _check_reserved(flags: F.FlagLayers, derived: dict[str, F.Flag], findings: Findings) -> list[str]:
    """A flag pdcompose sets is an error unless it repeats the derived value: those are returned, for
    the caller to drop (the check itself leaves `flags` as they are)."""
    redundant = []
    for name, why in RESERVED.items():
        flag = flags.get(name)
        if flag is None:
            continue
        mine = derived.get(name)
        if mine is not None and F.same_value(flag, mine.value):
            redundant.append(name)
            continue
        shown = " ".join(F.tokens(flag))
        derived_text = f"pdcompose derives {' '.join(F.tokens(mine))} here" if mine else "pdcompose sets it"
        findings.error("conflicting-arg", flag.origin, f"`{shown}` conflicts with the topology: "
                                                      f"{derived_text}; {why}")
    return redundant


def _merge_configs(flags: F.FlagLayers, findings: Findings) -> None:
    """One value per config flag (see flags.merge_dotted); a key two layers set differently is an error."""
    for c in F.merge_dotted(flags):
        findings.error("conflicting-arg", c.origin, (
            f"{c.key} is set here and, differently, at {format_loc(c.other)}: vLLM would keep only one; "
            "set it once"))


def _check_kv_transfer(flags: F.FlagLayers, ref: NodeRef, findings: Findings) -> None:
    flag = flags.get("kv-transfer-config")
    config = flag.value if flag else None
    origin = flag.origin if flag else (ref.role, ref.instance)
    if isinstance(config, str):
        import json

        try:
            config = json.loads(config)
        except ValueError:
            findings.error("kv-transfer-config", origin, "is not valid JSON")
            return
    if not isinstance(config, dict) or not config.get("kv_connector"):
        findings.error("kv-transfer-config", (ref.role, ref.instance), (
            "no kv-transfer-config with a kv_connector: prefill and decode hand the KV cache over through "
            "one (e.g. {kv_connector: NixlConnector, kv_role: kv_both}); set it in args or use a recipe"))
    elif "kv_load_failure_policy" not in config:
        findings.warn("kv-load-failure-policy", origin, (
            "kv_load_failure_policy is unset: when a KV transfer fails, the decode silently recomputes "
            "the prefill; the guide sets \"fail\" so failures are visible"))


def _env(r: Resolved, n: NodeInputs, findings: Findings) -> dict[str, str | SecretRef]:
    t = r.topology
    env = layered_env(env_layers(r, n.ref), n.host, findings)
    if n.judge:
        judge_env(n.judge, env, findings)
    derived: dict[str, str] = {"VLLM_NIXL_SIDE_CHANNEL_HOST": n.host.address,
                               "VLLM_NIXL_SIDE_CHANNEL_PORT": str(n.alloc.nixl_base)}
    if n.host.hf_cache:
        derived["HF_HOME"] = n.host.hf_cache
    if t.hf_token:
        derived["HF_TOKEN_PATH"] = f"{SECRET_DIR}/hf_token"
    if t.api_key and auth.WORKER_VAR in env:
        findings.error("conflicting-env", env[auth.WORKER_VAR][1], (
            f"{auth.WORKER_VAR} conflicts with the topology: {DERIVED_ENV[auth.WORKER_VAR]}; remove it"))
        env.pop(auth.WORKER_VAR)
    for key, value in derived.items():
        if key in env and env[key][0] != value:
            findings.error("conflicting-env", env[key][1], (
                f"{key} conflicts with the topology: pdcompose derives {value!r} here; {DERIVED_ENV[key]}"))
    out: dict[str, str | SecretRef] = {**{k: v for k, (v, _) in env.items()}, **derived}
    if real_engine(t):
        out |= cpu_env(out)
    elif t.rehearsal.enabled:
        out |= {"PDCOMPOSE_MOCK_LOAD_DELAY": str(t.rehearsal.load_delay),
                "PDCOMPOSE_MOCK_PREFILL_MS_PER_1K": str(t.rehearsal.prefill_ms_per_1k),
                "PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": str(t.rehearsal.decode_ms_per_token)}
        if n.judge:                     # the mock parses the argv as the release the plan was judged by
            out["PDCOMPOSE_MOCK_VLLM_VERSION"] = n.judge.cat.vllm
    return dict(sorted(out.items()))


def _devices(host: HostFacts, rehearsal: bool) -> list[str]:
    if rehearsal:                   # no hardware in a rehearsal
        return []
    devices = list(host.profile.devices) if host.profile else []
    if host.gdrcopy:                # the NVIDIA Container Toolkit ignores NVIDIA_GDRCOPY=1: map the device itself
        devices.append(f"{GDRDRV}:{GDRDRV}")
    return devices


def _ulimits(host: HostFacts, rehearsal: bool) -> dict[str, Ulimit]:
    limits = dict(host.profile.ulimits) if host.profile else {}
    if rehearsal:
        limits.pop("memlock", None)  # a rehearsal engine may not raise it (no CAP_SYS_RESOURCE)
    return {k: Ulimit(soft=v, hard=v) for k, v in sorted(limits.items())}


def _ports(n: NodeInputs, dp: DataParallel, bind: str) -> list[PortUse]:
    ports = [PortUse(port=n.alloc.api_port, purpose="API", bind=bind),
             # vLLM listens on VLLM_NIXL_SIDE_CHANNEL_PORT + the GLOBAL DP rank of each engine
             PortUse(port=n.alloc.nixl_first, count=n.shape.dp_local, purpose="NIXL side channel",
                     bind=n.host.address)]
    if dp.size > 1 and dp.nodes > 1 and n.ref.node == 0:
        ports.append(PortUse(port=dp.rpc_port, purpose="DP RPC", bind=n.host.address))
    return ports


def _healthcheck(t: Any, url: str) -> Healthcheck:
    probe = f"import urllib.request; urllib.request.urlopen({url!r}, timeout={max(t.health.timeout - 1, 1)})"
    return Healthcheck(test=["CMD", "python3", "-c", probe], interval=t.health.interval,
                       timeout=t.health.timeout, retries=t.health.retries, start_period=t.health.start_period)


__all__ = ["RPC_PORT", "NodeInputs", "Shape", "node_flags", "node_shape", "vllm_container"]
