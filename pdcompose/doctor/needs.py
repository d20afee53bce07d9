"""What a host must offer for its part of the plan: images, addresses, ports, devices, GPUs, paths, a NIC.

Read from the plan's containers (what Compose will actually ask the engine for), so a profile that
lists hardware a host's containers never use (a router-only host of a GB200 profile) is not failed
for lacking it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdcompose.plan.models import Host, PortUse

SIDE_CHANNEL_HOST = "VLLM_NIXL_SIDE_CHANNEL_HOST"
GLOO_IFNAME = "GLOO_SOCKET_IFNAME"

# The topology field that moves each kind of port, for the fix hints.
PORT_FIELDS = {"API": "{role}.port", "NIXL side channel": "{role}.nixl_port", "DP RPC": "{role}.rpc_port",
               "router": "router.port", "router metrics": "router.prometheus_port"}


@dataclass(frozen=True)
class PortNeed:
    bind: str
    port: int
    service: str
    role: str
    purpose: str

    @property
    def field(self) -> str:
        return PORT_FIELDS.get(self.purpose, "the port").format(role=self.role)


@dataclass(frozen=True)
class Needs:
    images: list[str]                      # sorted references
    pinned: dict[str, str]                 # reference -> image ID the images lock pins
    pull_never: set[str]                   # references Compose must not pull
    addresses: dict[str, str]              # address -> why it must be this host's own
    remote_addresses: dict[str, str]       # addresses of other hosts it dials (must not be loopback)
    ports: list[PortNeed]
    devices: list[str]                     # host device paths mapped into containers
    gpus: list[str]                        # GPU ids reserved through the NVIDIA runtime
    paths: dict[str, str]                  # host path bind-mounted -> what it is
    hardware: set[str]                     # the profile's `requires`
    model_dir: str                         # hub/models--org--name inside an HF cache
    nic_env: list[str]                     # env variables whose value names the host's `interface`
    gloo_by_name: list[str]                # services of DP groups across hosts without GLOO_SOCKET_IFNAME: Gloo
                                           # binds what the host's name resolves to

    @property
    def uses_gpus(self) -> bool:
        return bool(self.gpus)


def needs(host: Host, model: str = "") -> Needs:
    cs = host.containers
    addresses = {host.address: "the host's address in the topology"}
    remote: dict[str, str] = {}
    for c in cs:
        side = c.env.get(SIDE_CHANNEL_HOST)
        if isinstance(side, str):
            addresses.setdefault(side, f"{SIDE_CHANNEL_HOST} of {c.service}")
        if c.dp and c.dp.start_rank == 0:
            addresses.setdefault(c.dp.address, f"--data-parallel-address of {c.service}")
        elif c.dp:
            remote.setdefault(c.dp.address, f"--data-parallel-address of {c.service} (its master)")
    hf_home = next((c.env["HF_HOME"] for c in cs if isinstance(c.env.get("HF_HOME"), str)), None)
    paths: dict[str, str] = {}
    # Folders only: a group watchdog's one volume is the host's Docker socket (hosts.<h>.docker_socket), which
    # is not a folder; the context's daemon answering is the check that matters for it.
    for c in cs:
        for volume in (c.volumes if c.role != "watchdog" else []):
            source, _, rest = volume.partition(":")
            if source.startswith("/"):
                target = rest.split(":", 1)[0]
                paths.setdefault(source, "the HF cache" if target == hf_home else f"a volume of {c.service}")
    return Needs(
        images=sorted({c.image for c in cs}),
        pinned={c.image: c.image_id for c in cs if c.image_id},
        pull_never={c.image for c in cs if c.pull_policy == "never"},
        addresses=addresses, remote_addresses=remote,
        ports=[PortNeed(use.bind, p, c.service, c.role, use.purpose) for c in cs for use in c.ports
               for p in _span(use)],
        devices=sorted({d.split(":", 1)[0] for c in cs for d in c.devices}),
        gpus=sorted({g for c in cs if c.gpu_driver for g in c.gpus}, key=_gpu_order),
        paths=paths, hardware=set(host.requires),
        model_dir="hub/models--" + model.replace("/", "--") if model and not model.startswith("/") else "",
        nic_env=_nic_env(host),
        gloo_by_name=[c.service for c in cs if c.dp and c.dp.nodes > 1 and GLOO_IFNAME not in c.env],
    )


def _nic_env(host: Host) -> list[str]:
    """The variables `{interface}` filled in (GLOO/NCCL/NVSHMEM ..._IFNAME of the presets): those whose value,
    or one item of a comma list, is the host's interface."""
    if not host.interface:
        return []
    return sorted({k for c in host.containers for k, v in c.env.items()
                   if isinstance(v, str) and host.interface in v.split(",")})


def _span(use: PortUse) -> range:
    return range(use.port, use.port + use.count)


def _gpu_order(gpu: str) -> tuple[int, str]:
    return (int(gpu), "") if gpu.isdigit() else (1 << 30, gpu)


def port_list(ports: list[int]) -> str:
    """[8087, 5600, 5601, 5602, 13345] -> '5600-5602, 8087, 13345'."""
    spans: list[list[int]] = []
    for p in sorted(set(ports)):
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
