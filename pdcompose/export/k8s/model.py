"""The neutral model between the Plan and the manifests (kompose's kobject): what each pod template must
run, in Kubernetes' terms but with no manifest shape yet. Built by `derive`, turned into objects by
`pods`, `router` and `manifests`.
"""

from __future__ import annotations

from typing import Literal

from pdcompose.frozen import Frozen


class EnvRef(Frozen):
    """An argument Kubernetes fills in from the container's environment: `$(VAR)`."""

    var: str


class StartRank(Frozen):
    """`--data-parallel-start-rank`'s value: LWS_WORKER_INDEX x the engines per node (needs a shell)."""

    per_node: int


Arg = str | EnvRef | StartRank


class Value(Frozen):
    value: str


class SecretKey(Frozen):
    key: str                        # a key of the export's Secret (the plan's {from_env: VAR} name)


class FieldRef(Frozen):
    path: str                       # downward API: status.podIP, metadata.namespace


EnvValue = Value | SecretKey | FieldRef


class Template(Frozen):
    """One pod template: the leader's (node 0) or the workers' (nodes 1..n-1 share it)."""

    services: list[str]             # the plan's containers this template runs, in node order
    entrypoint: list[str]
    args: list[Arg]
    env: dict[str, EnvValue]
    api_port: int
    rpc_port: int | None = None     # the DP master's RPC port (leader only)
    nixl_ports: dict[int, int] = {}  # global DP rank -> its NIXL side-channel port


class Group(Frozen):
    """One instance: a LeaderWorkerSet of `size` pods, one per node of the instance."""

    name: str
    role: Literal["prefill", "decode"]
    instance: int
    size: int
    image: str
    pull_policy: str
    leader: Template
    worker: Template | None = None
    gpus: int
    rdma: bool
    imex: bool
    capabilities: list[str]
    hf_cache: str | None            # container path of the Hugging Face cache (HF_HOME)
    secret_files: dict[str, str]    # /run/secrets/<file> -> key of the Secret
    health_path: str
    startup_seconds: int            # how long a node may take to load the model
    grace_seconds: int
    probe_api_key: bool             # /v1/models needs the key in VLLM_API_KEY
    arch: str | None = None         # the nodes' CPU architecture (Docker's name = Kubernetes'), where stated


class RouterSpec(Frozen):
    name: str
    image: str
    pull_policy: str
    entrypoint: list[str]
    args: list[Arg]
    env: dict[str, EnvValue]
    port: int
    metrics_port: int | None
    health_path: str
    grace_seconds: int
    arch: str | None = None


class Difference(Frozen):
    """A value of a node's argv or environment that differs from its Compose bundle, and why."""

    service: str
    kind: Literal["arg", "env"]
    key: str                        # the flag ("--port") or the variable
    compose: str
    k8s: str
    why: str


class Export(Frozen):
    cluster: str
    source: str
    fingerprint: str
    namespace: str
    prefix: str
    secret: str
    hf_cache_claim: str
    rdma_resource: str
    api_port: int                   # every vLLM pod serves its API here (the router discovers one port)
    groups: list[Group]
    router: RouterSpec
    imex_nodes: int                 # pods in the one ComputeDomain (0: no IMEX profile)
    secret_keys: list[str]
    differences: list[Difference]
    notes: list[str]                # what could not be expressed, stated

    def labels(self, role: str, instance: int | None = None) -> dict[str, str]:
        out = {"app.kubernetes.io/managed-by": "pdcompose", "pdcompose.io/cluster": self.prefix,
               "pdcompose.io/role": role}
        if instance is not None:
            out["pdcompose.io/instance"] = str(instance)
        return out
