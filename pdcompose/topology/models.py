"""What the user writes: the topology file, as pydantic models.

Every model forbids unknown keys (a typo must never be silently ignored). Derived values (ranks,
ports, argv, env) are not here: they belong to the planner. `pdcompose schema` prints the JSON Schema
of these models for editor completion.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from pdcompose.frozen import Strict
from pdcompose.topology.entry import Entry
from pdcompose.topology.firewall import Firewall
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
    Revision,
    Seconds,
    VllmVersion,
)

Port = Annotated[int, Field(ge=1, le=65535)]
Parallel = Annotated[int, Field(ge=1, le=1024)]
Policy = Literal["random", "round_robin", "cache_aware", "kv_aware", "power_of_two", "consistent_hash",
                 "sticky_least_loaded"]


PROFILE_HELP = "hardware profile: a built-in name (gb200, h100-ib, ...) or a path to a YAML file"
INTERFACE_HELP = "network interface of the host's address ({interface} in the profile's NCCL/GLOO/UCX settings)"
GPUS_HELP = "GPU ids vLLM may use on the host ([] for a host that runs only the router)"
ARGS_HELP = (": flag name without '--' -> value (true: bare flag, false: --no-flag, null: drop an inherited one); "
             "a later level overrides an earlier one")
ENV_HELP = ": name -> text, number, {from_env: VAR} or null (removes an inherited value)"
GDRCOPY_HELP = ("pass /dev/gdrdrv (the gdrcopy driver: GPUDirect RDMA copies for NVSHMEM/UCX) to the vLLM "
                "containers; the host must have it (pdcompose doctor checks)")


class HostDefaults(Strict):
    profile: str | None = Field(None, description=PROFILE_HELP)
    interface: Interface | None = Field(None, description=INTERFACE_HELP)
    gpus: list[GpuId] | None = Field(None, description=GPUS_HELP)
    gdrcopy: bool = Field(False, description=GDRCOPY_HELP)


class Host(Strict):
    address: Address | None = Field(None, description=(
        "Routable address: --data-parallel-address, router URLs, VLLM_NIXL_SIDE_CHANNEL_HOST"))
    context: ContextName | None = Field(None, description="Docker context (default: the host's name)")
    profile: str | None = Field(None, description=PROFILE_HELP + " (default: defaults.profile)")
    interface: Interface | None = Field(None, description=INTERFACE_HELP + " (default: defaults.interface)")
    gpus: list[GpuId] | None = Field(None, description=GPUS_HELP + " (default: defaults.gpus)")
    gdrcopy: bool | None = Field(None, description=GDRCOPY_HELP + " (default: defaults.gdrcopy)")
    env: Env = Field(default_factory=dict, description="environment of the vLLM containers on this host" + ENV_HELP)
    hf_cache: AbsPath | None = Field(None, description=(
        "this host's Hugging Face cache, where it differs from the cluster's `hf_cache:`"))
    docker_socket: AbsPath = Field("/var/run/docker.sock", description=(
        "where this host's Docker daemon listens, as seen on the host: the group watchdogs of multi-node "
        "instances mount it to stop and start their engine"))


def _node_shorthand(value: Any) -> Any:
    return {"host": value} if isinstance(value, str) else value


class Node(Strict):
    host: Name
    gpus: list[GpuId] | None = Field(None, description="this node's GPU ids (default: its host's gpus)")
    args: Args = Field(default_factory=dict, description="vLLM arguments of this node only" + ARGS_HELP)
    env: Env = Field(default_factory=dict, description="environment of this node only" + ENV_HELP)


class Placement(Strict):
    """What a role gives all of its instances, and an instance may override."""

    tp: Parallel | None = Field(None, description="--tensor-parallel-size on every node")
    dp_local: Parallel | None = Field(None, description="data-parallel engines per node (default: GPUs / tp)")
    port: Port | None = Field(None, description="API port (default 8087; +1 for each further container on a host)")
    rpc_port: Port | None = Field(None, description="--data-parallel-rpc-port (default 13345)")
    nixl_port: Port | None = Field(None, description=(
        "VLLM_NIXL_SIDE_CHANNEL_PORT (5600); each engine listens on it + its global data-parallel rank"))
    image: ImageRef | None = Field(None, description="the vLLM image for these nodes (default: the top-level image)")
    args: Args = Field(default_factory=dict, description="vLLM arguments of these nodes" + ARGS_HELP)
    env: Env = Field(default_factory=dict, description="environment of these nodes' containers" + ENV_HELP)


class Instance(Placement):
    nodes: list[Annotated[Node, BeforeValidator(_node_shorthand)]] = Field(
        min_length=1, description="Hosts (or {host, gpus, args, env}); the first is the data-parallel master")


def _role_shorthand(value: Any) -> Any:
    return {"instances": value} if isinstance(value, list) else value


class Role(Placement):
    instances: list[Instance] = Field(min_length=1, description=(
        "the role's instances: each one vLLM deployment of one or more nodes (a data-parallel group)"))


RoleField = Annotated[Role, BeforeValidator(_role_shorthand)]


class Router(Strict):
    host: Name
    port: Port = Field(8123, description="the router's HTTP port (the OpenAI-compatible API clients call)")
    policy: Policy | None = Field(None, description="--policy: how requests are spread over the workers (default: "
                                  "the recipe's, else vllm-router's)")
    prefill_policy: Policy | None = Field(None, description="--prefill-policy: the policy for prefill workers only")
    decode_policy: Policy | None = Field(None, description="--decode-policy: the policy for decode workers only")
    max_concurrent_requests: Annotated[int, Field(ge=1, le=10_000_000)] | None = Field(
        None, description="--max-concurrent-requests (default: the recipe's, else vllm-router's)")
    image: ImageRef | None = Field(None, description="the router image (default: pdcompose/vllm-router, built by "
                                   "images/build.sh router)")
    prometheus_port: Port = Field(29000, description="vllm-router metrics port (0.1.17 binds it by default)")
    startup_timeout: Seconds | None = Field(None, description="--worker-startup-timeout-secs")
    startup_check_interval: Seconds | None = Field(None, description="--worker-startup-check-interval")
    health_check_interval: Seconds | None = Field(None, description="--health-check-interval-secs")
    args: Args = Field(default_factory=dict, description="further vllm-router arguments" + ARGS_HELP)
    env: Env = Field(default_factory=dict, description="environment of the router container" + ENV_HELP)


class Health(Strict):
    start_period: Seconds = Field(3600, description="healthcheck start period: big models load for 10-60 min")
    interval: Seconds = Field(10, description="healthcheck interval: how often Docker probes each API server")
    timeout: Seconds = Field(5, description="healthcheck timeout: how long one probe may take")
    retries: Annotated[int, Field(ge=1, le=100)] = Field(3, description=(
        "healthcheck retries: failed probes in a row before Docker marks a container unhealthy"))
    deploy_timeout: Seconds = Field(5400, description="how long `deploy` waits for every API server")


class Rehearsal(Strict):
    """Run the same plan on one Docker engine: mock vLLM image, loopback addresses, no GPUs."""

    enabled: bool = Field(False, description="render and deploy the rehearsal instead of the real deployment "
                          "(--rehearsal does it for one command)")
    engine: Literal["mock", "vllm"] = Field("mock", description=(
        "mock: pdcompose's mock vLLM (fast, any topology); vllm: real `vllm serve` (the CPU build, "
        "images/build.sh vllm) serving a tiny Llama made locally; CPU-only settings are substituted and "
        "stated in the plan (minutes to start, ~3.4 GB per engine)"))
    addresses: Literal["loopback", "hosts"] = Field("loopback", description=(
        "loopback: host i gets the i-th loopback address from first_address and a context on the local "
        "engine; hosts: keep each host's address and Docker context (a `pdcompose lab`, or spare CPU hosts)"))
    first_address: str = Field("127.0.0.10", pattern=r"^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$", description=(
        "loopback address of the first host; host i gets the i-th one after it"))
    mock_image: ImageRef | None = Field(None, description="the mock vLLM image (default: pdcompose/mock-vllm)")
    vllm_image: ImageRef | None = Field(None, description="the real-engine image (default: pdcompose/vllm-cpu)")
    router_image: ImageRef | None = Field(None, description="the router image (default: pdcompose/vllm-router)")
    load_delay: Annotated[float, Field(ge=0, le=3600)] = Field(2.0, description=(
        "seconds the mock takes to 'load the model' before it turns healthy"))
    prefill_ms_per_1k: Annotated[float, Field(ge=0, le=60_000)] = Field(20.0, description=(
        "the mock's simulated prefill time, in ms per 1000 prompt tokens"))
    decode_ms_per_token: Annotated[float, Field(ge=0, le=10_000)] = Field(2.0, description=(
        "the mock's simulated decode time, in ms per generated token"))
    health_check_interval: Seconds = Field(2, description="router runtime health checks, fast for rehearsal")


class Topology(Strict):
    name: Name = Field(description="Cluster name; each host's Compose project is <name>-<host>")
    recipe: str | None = Field(None, description="model recipe: a built-in name or a path to a YAML file")
    model: str | None = Field(None, min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\s]+$", description=(
        "the model `vllm serve` loads: a Hugging Face id or a path in the container (default: the recipe's)"))
    image: ImageRef | None = Field(None, description="the vLLM image, e.g. vllm/vllm-openai:v0.13.0")
    vllm_version: VllmVersion | None = Field(None, description=(
        "the vLLM release the image runs, when its tag does not say (vllm/vllm-openai:vX.Y.Z does): flags "
        "are checked against that release's catalog"))
    pull_policy: Literal["missing", "never", "always"] = Field("missing", description=(
        "Compose pull_policy of the vLLM and router containers: pull when missing, never, or always"))
    hf_cache: AbsPath | None = Field(None, description="host path of the Hugging Face cache (HF_HOME)")
    hf_token: FromEnv | None = Field(None, description="{from_env: HF_TOKEN}: delivered as a Compose secret file")
    model_revision: Revision | None = Field(None, description=(
        "the model's revision (a commit hash, branch or tag): vLLM's --revision, and the snapshot `pdcompose "
        "models` checks, pulls and pushes on every host"))
    api_key: FromEnv | None = Field(None, description=(
        "{from_env: VAR}: every vLLM API server requires this key on /v1/* (VLLM_API_KEY) and the router sends "
        "it (OPENAI_API_KEY); delivered as a Compose secret file, never in argv, env or `docker inspect`"))
    restart: str = Field("unless-stopped", pattern=r"^(no|always|unless-stopped|on-failure(:\d{1,4})?)$",
                         description=("Docker restart policy of the containers; the nodes of a multi-node "
                                      "instance always get \"no\" (a lone restarted node cannot rejoin its group)"))
    stop_grace_period: Seconds = Field(60, description="how long Docker waits after SIGTERM before SIGKILL")
    recovery: Literal["auto", "manual"] = Field("auto", description=(
        "multi-node instances: a group watchdog on each node takes the group out of service when a node is "
        "lost; auto: it then restarts the whole group, master first, with backoff; manual: it waits for "
        "`pdcompose restart --instance`"))
    env: Env = Field(default_factory=dict, description="environment of every vLLM container" + ENV_HELP)
    args: Args = Field(default_factory=dict, description="vLLM arguments of every node" + ARGS_HELP)
    defaults: HostDefaults = Field(default_factory=HostDefaults, description=(
        "profile, interface, GPUs and gdrcopy for every host that does not set its own"))
    hosts: dict[Name, Host] = Field(min_length=1, description=(
        "the Docker hosts by name: address, Docker context, profile, GPUs"))
    prefill: RoleField = Field(description="the prefill instances (or a role: settings for all of them + instances)")
    decode: RoleField = Field(description="the decode instances (or a role: settings for all of them + instances)")
    router: Router = Field(description="the vllm-router in front of every instance: its host, port and policies")
    health: Health = Field(default_factory=Health, description="Docker healthchecks and how long deploy waits")
    access: Literal["auto", "direct", "context"] = Field("auto", description=(
        "how deploy, status, restart and bench reach the API servers and the router: direct (HTTP from the "
        "machine running pdcompose), context (from inside each host, through its Docker context: for hosts "
        "on a private network) or auto (direct where it works, decided once per host); --access overrides it"))
    rehearsal: Rehearsal = Field(default_factory=Rehearsal, description=(
        "the same plan on this machine's Docker engine (mock or CPU vLLM, loopback addresses, no GPUs)"))
    monitoring: Monitoring = Field(default_factory=Monitoring, description=(
        "a Prometheus scraping every API server and the router, with alert rules"))
    firewall: Firewall = Field(default_factory=Firewall, description=(
        "per-host nftables rules that close the cluster's ports to other machines (`pdcompose firewall`)"))
    entry: Entry | None = Field(None, description=(
        "a TLS front door for the router on its host (nginx): the operator's certificate, client API keys; the "
        "router then listens on its host's address only, and the entry is the port clients call"))

    def role(self, name: str) -> Role:
        return {"prefill": self.prefill, "decode": self.decode}[name]


ROLES = ("prefill", "decode")
__all__ = ["ROLES", "EnvName", "FromEnv", "Health", "Host", "HostDefaults", "Instance", "Node", "Placement",
           "Rehearsal", "Role", "Router", "Topology"]
