"""What the user writes: the topology file, as pydantic models.

Every model forbids unknown keys (a typo must never be silently ignored). Derived values (ranks,
ports, argv, env) are not here: they belong to the planner. `pdcompose schema` prints the JSON Schema
of these models for editor completion.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from pdcompose.frozen import Strict
from pdcompose.topology.monitoring import Monitoring
from pdcompose.topology.types import (
    AbsPath,
    Address,
    Args,
    ContextName,
    Env,
    EnvName,
    FromEnv,
    GpuId,
    ImageRef,
    Interface,
    Name,
    Seconds,
    VllmVersion,
)

Port = Annotated[int, Field(ge=1, le=65535)]
Parallel = Annotated[int, Field(ge=1, le=1024)]
Policy = Literal["random", "round_robin", "cache_aware", "kv_aware", "power_of_two", "consistent_hash",
                 "sticky_least_loaded"]


GDRCOPY_HELP = ("pass /dev/gdrdrv (the gdrcopy driver: GPUDirect RDMA copies for NVSHMEM/UCX) to the vLLM "
                "containers; the host must have it (pdcompose doctor checks)")


class HostDefaults(Strict):
    profile: str | None = None
    interface: Interface | None = None
    gpus: list[GpuId] | None = None
    gdrcopy: bool = Field(False, description=GDRCOPY_HELP)


class Host(Strict):
    address: Address | None = Field(None, description=(
        "Routable address: --data-parallel-address, router URLs, VLLM_NIXL_SIDE_CHANNEL_HOST"))
    context: ContextName | None = Field(None, description="Docker context (default: the host's name)")
    profile: str | None = None
    interface: Interface | None = None
    gpus: list[GpuId] | None = None
    gdrcopy: bool | None = Field(None, description=GDRCOPY_HELP + " (default: defaults.gdrcopy)")
    env: Env = Field(default_factory=dict)


def _node_shorthand(value: Any) -> Any:
    return {"host": value} if isinstance(value, str) else value


class Node(Strict):
    host: Name
    gpus: list[GpuId] | None = None
    args: Args = Field(default_factory=dict)
    env: Env = Field(default_factory=dict)


class Placement(Strict):
    """What a role gives all of its instances, and an instance may override."""

    tp: Parallel | None = Field(None, description="--tensor-parallel-size on every node")
    dp_local: Parallel | None = Field(None, description="data-parallel engines per node (default: GPUs / tp)")
    port: Port | None = Field(None, description="API port (default 8087; +1 for each further container on a host)")
    rpc_port: Port | None = Field(None, description="--data-parallel-rpc-port (default 13345)")
    nixl_port: Port | None = Field(None, description=(
        "VLLM_NIXL_SIDE_CHANNEL_PORT (5600); each engine listens on it + its global data-parallel rank"))
    image: ImageRef | None = None
    args: Args = Field(default_factory=dict)
    env: Env = Field(default_factory=dict)


class Instance(Placement):
    nodes: list[Annotated[Node, BeforeValidator(_node_shorthand)]] = Field(
        min_length=1, description="Hosts (or {host, gpus, args, env}); the first is the data-parallel master")


def _role_shorthand(value: Any) -> Any:
    return {"instances": value} if isinstance(value, list) else value


class Role(Placement):
    instances: list[Instance] = Field(min_length=1)


RoleField = Annotated[Role, BeforeValidator(_role_shorthand)]


class Router(Strict):
    host: Name
    port: Port = 8123
    policy: Policy | None = None
    prefill_policy: Policy | None = None
    decode_policy: Policy | None = None
    max_concurrent_requests: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    image: ImageRef | None = None
    prometheus_port: Port = Field(29000, description="vllm-router metrics port (0.1.17 binds it by default)")
    startup_timeout: Seconds | None = Field(None, description="--worker-startup-timeout-secs")
    startup_check_interval: Seconds | None = Field(None, description="--worker-startup-check-interval")
    health_check_interval: Seconds | None = Field(None, description="--health-check-interval-secs")
    args: Args = Field(default_factory=dict)
    env: Env = Field(default_factory=dict)


class Health(Strict):
    start_period: Seconds = Field(3600, description="healthcheck start period: big models load for 10-60 min")
    interval: Seconds = 10
    timeout: Seconds = 5
    retries: Annotated[int, Field(ge=1, le=100)] = 3
    deploy_timeout: Seconds = Field(5400, description="how long `deploy` waits for every API server")


class Rehearsal(Strict):
    """Run the same plan on one Docker engine: mock vLLM image, loopback addresses, no GPUs."""

    enabled: bool = False
    engine: Literal["mock", "vllm"] = Field("mock", description=(
        "mock: pdcompose's mock vLLM (fast, any topology); vllm: real `vllm serve` (the CPU build, "
        "images/build.sh vllm) serving a tiny Llama made locally; CPU-only settings are substituted and "
        "stated in the plan (minutes to start, ~3.4 GB per engine)"))
    first_address: str = Field("127.0.0.10", pattern=r"^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$", description=(
        "loopback address of the first host; host i gets the i-th one after it"))
    mock_image: ImageRef | None = None
    vllm_image: ImageRef | None = Field(None, description="the real-engine image (default: pdcompose/vllm-cpu)")
    router_image: ImageRef | None = None
    load_delay: Annotated[float, Field(ge=0, le=3600)] = 2.0
    prefill_ms_per_1k: Annotated[float, Field(ge=0, le=60_000)] = 20.0
    decode_ms_per_token: Annotated[float, Field(ge=0, le=10_000)] = 2.0
    health_check_interval: Seconds = Field(2, description="router runtime health checks, fast for rehearsal")


class Topology(Strict):
    name: Name = Field(description="Cluster name; each host's Compose project is <name>-<host>")
    recipe: str | None = Field(None, description="model recipe: a built-in name or a path to a YAML file")
    model: str | None = Field(None, min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\s]+$")
    image: ImageRef | None = Field(None, description="the vLLM image, e.g. vllm/vllm-openai:v0.13.0")
    vllm_version: VllmVersion | None = Field(None, description=(
        "the vLLM release the image runs, when its tag does not say (vllm/vllm-openai:vX.Y.Z does): flags "
        "are checked against that release's catalog"))
    pull_policy: Literal["missing", "never", "always"] = "missing"
    hf_cache: AbsPath | None = Field(None, description="host path of the Hugging Face cache (HF_HOME)")
    hf_token: FromEnv | None = Field(None, description="{from_env: HF_TOKEN}: delivered as a Compose secret file")
    restart: str = Field("unless-stopped", pattern=r"^(no|always|unless-stopped|on-failure(:\d{1,4})?)$")
    stop_grace_period: Seconds = 60
    env: Env = Field(default_factory=dict)
    args: Args = Field(default_factory=dict)
    defaults: HostDefaults = Field(default_factory=HostDefaults)
    hosts: dict[Name, Host] = Field(min_length=1)
    prefill: RoleField
    decode: RoleField
    router: Router
    health: Health = Field(default_factory=Health)
    access: Literal["auto", "direct", "context"] = Field("auto", description=(
        "how deploy, status, restart and bench reach the API servers and the router: direct (HTTP from the "
        "machine running pdcompose), context (from inside each host, through its Docker context: for hosts "
        "on a private network) or auto (direct where it works, decided once per host); --access overrides it"))
    rehearsal: Rehearsal = Field(default_factory=Rehearsal)
    monitoring: Monitoring = Field(default_factory=Monitoring)

    def role(self, name: str) -> Role:
        return {"prefill": self.prefill, "decode": self.decode}[name]


ROLES = ("prefill", "decode")
__all__ = ["ROLES", "EnvName", "FromEnv", "Health", "Host", "HostDefaults", "Instance", "Node", "Placement",
           "Rehearsal", "Role", "Router", "Topology"]
