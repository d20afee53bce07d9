"""The Plan: everything derived from a topology, per host and per container.

Frozen and free of Docker or Jinja types. `out/plan.json` is this model serialised, so deploy,
status, doctor and bench work from a render without re-deriving anything.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer

from pdcompose.frozen import Frozen

Role = Literal["prefill", "decode", "router", "monitoring", "watchdog", "entry"]


class SecretRef(Frozen):
    """An environment value taken from the deployer's environment at `up` time; never a literal."""

    from_env: str


class Secret(Frozen):
    """A Compose secret: the file /run/secrets/<name> in the container, filled from an env var (which deploy
    fills from `from_file` first, where the topology names a file: the entry's certificate and key)."""

    name: str
    from_env: str
    from_file: str | None = None

    @model_serializer(mode="wrap")
    def _drop_no_file(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)     # secrets from the environment serialise (and fingerprint) as before
        if isinstance(data, dict) and data.get("from_file") is None:
            data.pop("from_file", None)
        return data


class Ulimit(Frozen):
    soft: int
    hard: int


class PortUse(Frozen):
    port: int
    count: int = 1                  # a range: the NIXL side channel takes one port per local DP engine
    purpose: str                    # "API", "DP RPC", "NIXL side channel", "router", "router metrics"
    bind: str                       # address it is bound on ("0.0.0.0" = all)


class DataParallel(Frozen):
    size: int                       # --data-parallel-size: every engine of the instance
    local: int                      # --data-parallel-size-local: engines on this node
    start_rank: int                 # first global rank on this node
    address: str                    # --data-parallel-address: the instance's first node
    rpc_port: int
    nodes: int

    @property
    def ranks(self) -> range:
        return range(self.start_rank, self.start_rank + self.local)


class Healthcheck(Frozen):
    test: list[str]
    interval: int
    timeout: int
    retries: int
    start_period: int


class Container(Frozen):
    service: str                    # Compose service name, unique in the cluster
    role: Role
    instance: int | None = None
    node: int | None = None
    image: str
    image_id: str | None = None     # pinned by the images lock: the hosts must have exactly this image
    pull_policy: str
    entrypoint: list[str]
    command: list[str]
    env: dict[str, str | SecretRef]
    secrets: list[str] = []
    gpus: list[str] = []
    gpu_driver: str | None = None
    devices: list[str] = []
    cap_add: list[str] = []
    ulimits: dict[str, Ulimit] = {}
    ipc: str | None = None
    volumes: list[str] = []
    ports: list[PortUse] = []
    dp: DataParallel | None = None
    tp: int | None = None
    vllm_version: str | None = None  # the vLLM release whose catalog judged this node's flags
    url: str                        # how other hosts (and the deployer) reach its API
    health_path: str = "/health"
    healthcheck: Healthcheck
    depends_on: list[str] = []
    restart: str
    stop_grace_period: int
    labels: dict[str, str] = {}


class ConfigFile(Frozen):
    """A file placed in one container at `up` time (a Compose config with inline content): no file on
    the host, so it works through any Docker context."""

    name: str                       # Compose config name, unique on the host
    service: str                    # the container that gets it
    target: str                     # absolute path in that container
    content: str


class Host(Frozen):
    name: str
    address: str
    context: str
    project: str                    # Compose project name: <cluster>-<host>
    profile: str | None = None
    arch: str | None = None         # CPU architecture the profile states (Docker's name: amd64, arm64); None:
                                    # unknown, or a rehearsal (every host is the local engine)
    requires: list[str] = []        # hardware the profile needs (doctor checks it)
    secrets: list[Secret] = []      # the Compose secrets this host's containers use
    containers: list[Container]
    configs: list[ConfigFile] = []  # only with monitoring: Prometheus's configuration and targets
    hf_cache: str | None = None     # where its Hugging Face cache is on the host (where vLLM runs and one is set)
    interface: str | None = None    # the NIC `{interface}` named in its containers' env (doctor checks it exists)

    @property
    def platform(self) -> str | None:
        """Docker's platform for this host's containers (`linux/arm64`) where the profile states an arch: a
        pull then gets that variant of a multi-arch image, and Compose refuses an image of another arch.
        A property, so plan.json and its fingerprint stay as they were."""
        return f"linux/{self.arch}" if self.arch else None

    @model_serializer(mode="wrap")
    def _drop_empty_configs(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Hosts without monitoring serialise (and fingerprint) exactly as before it existed.
        data = handler(self)
        if isinstance(data, dict) and not data.get("configs"):
            data.pop("configs", None)
        if isinstance(data, dict) and data.get("hf_cache") is None:
            data.pop("hf_cache", None)
        if isinstance(data, dict) and data.get("interface") is None:
            data.pop("interface", None)
        return data


class Firewall(Frozen):
    """`firewall: {enabled: true}`: besides the hosts' own addresses, who may reach the closed ports."""

    allow: list[str] = []


class EntryPlan(Frozen):
    """`entry:`: the TLS door in front of the router (plan/entry.py), where clients (and bench) call."""

    host: str
    url: str                        # https://<router host>[:port]
    client_keys: str                # the deployer's variable holding the client keys (bench sends the first)
    ca: str | None = None           # the CA file clients check the certificate with; None: the system's
    status_url: str                 # nginx's /health and /stub_status (cluster only)
    metrics_url: str                # prometheus-nginx-exporter (cluster only)


class Router(Frozen):
    host: str
    url: str
    prefill_urls: list[str]
    decode_urls: list[str]


class Plan(Frozen):
    pdcompose_version: str
    cluster: str
    source: str
    model: str
    served_model_name: str
    rehearsal: bool
    fingerprint: str
    health_timeout: int             # seconds deploy waits for every API server
    access: str = "auto"            # how the endpoints are reached: auto, direct or context (engine/access.py)
    adaptations: list[str] = []     # recipe settings changed to fit the pinned vLLM, stated
    substitutions: list[str] = []   # what a real-engine rehearsal changes (CPU, tiny model), stated
    model_revision: str | None = None   # the pinned revision of `model` (topology model_revision)
    secrets: list[Secret] = []
    hosts: list[Host]
    router: Router
    firewall: Firewall | None = None  # per-host nftables rules in the bundle (plan/firewall.py); None: off
    entry: EntryPlan | None = None    # the TLS door in front of the router (plan/entry.py); None: off

    @model_serializer(mode="wrap")
    def _drop_empty_substitutions(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Only real-engine rehearsals have substitutions: every other plan (and its fingerprint) stays as it was.
        data = handler(self)
        if isinstance(data, dict) and not data.get("substitutions"):
            data.pop("substitutions", None)
        if isinstance(data, dict) and data.get("access") == "auto":     # likewise for the default access
            data.pop("access", None)
        if isinstance(data, dict) and data.get("model_revision") is None:     # and for an unpinned revision
            data.pop("model_revision", None)
        if isinstance(data, dict) and data.get("firewall") is None:     # and for plans without a firewall
            data.pop("firewall", None)
        if isinstance(data, dict) and data.get("entry") is None:        # and for plans without an entry
            data.pop("entry", None)
        return data

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def containers(self, role: Role | None = None) -> list[tuple[Host, Container]]:
        return [(h, c) for h in self.hosts for c in h.containers if role is None or c.role == role]

    def workers(self) -> list[tuple[Host, Container]]:
        return [(h, c) for h, c in self.containers() if c.role in ("prefill", "decode")]

    def images(self) -> list[str]:
        return sorted({c.image for _, c in self.containers()})
