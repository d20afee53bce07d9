"""What a Kubernetes export cannot carry over from the Plan, found per container and stated in NOTES.md
and on stdout (never dropped silently)."""

from __future__ import annotations

from pdcompose.export.k8s.addresses import AddressFinder
from pdcompose.export.k8s.model import Difference
from pdcompose.hardware import IB_DEVICES, IMEX_DEVICES
from pdcompose.plan.models import Container, Host, Plan, SecretRef

# Environment variables whose values name the hosts' own network interfaces or devices.
INTERFACE_ENV = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME",
                 "UCX_NET_DEVICES", "NCCL_IB_HCA", "TP_SOCKET_IFNAME")
HANDLED_ENV = ("VLLM_NIXL_SIDE_CHANNEL_HOST",)
HANDLED_FLAGS = ("--data-parallel-address", "--prometheus-host", "--prefill", "--decode")


def is_infiniband(device: str) -> bool:
    return device.split(":")[0].startswith(IB_DEVICES)


def is_imex(device: str) -> bool:
    return IMEX_DEVICES in device


class Notes:
    """Collects one line per kind of loss, each naming the containers it applies to."""

    def __init__(self, plan: Plan):
        self._plan = plan
        self._topics: dict[str, dict[str, None]] = {}   # topic -> who, in order (a dict: linear at 1024 hosts)
        self._addresses = {h.address: h.name for h in plan.hosts}
        self._finder = AddressFinder(self._addresses)

    def _add(self, topic: str, who: str) -> None:
        self._topics.setdefault(topic, {})[who] = None

    def container(self, host: Host, c: Container) -> None:
        who = c.service
        self._add("Placement: each node ran on a named Docker host (its address, its Docker context); Kubernetes "
                  "schedules the pods (add a nodeSelector or affinity to pin them)",
                  f"{who} on {host.name} ({host.address}, context {host.context})")
        if c.gpus:
            self._add("GPU ids: the Compose bundle pins device ids per host; the NVIDIA device plugin chooses which "
                      "GPUs a pod gets (`nvidia.com/gpu: N`)", f"{who}: {','.join(c.gpus)}")
        for device in c.devices:
            if not (is_infiniband(device) or is_imex(device)):
                self._add(f"Device {device.split(':')[0]}: no Kubernetes form without a device plugin for it; "
                          "not carried over", who)
        for name, limit in sorted(c.ulimits.items()):
            self._add(f"ulimit {name}={limit.soft}: Kubernetes has no per-pod ulimits; the container runtime's "
                      "defaults apply (set LimitMEMLOCK/LimitSTACK for containerd on the nodes)", who)
        if c.ipc == "host":
            self._add("ipc: host: not carried over; /dev/shm is a memory-backed emptyDir instead", who)
        hf_home = c.env.get("HF_HOME")
        for volume in c.volumes:
            target = volume.split(":")[1] if ":" in volume else volume
            if target != hf_home:
                self._add(f"Volume {volume}: a host path; not carried over (only the Hugging Face cache is, as a "
                          "PersistentVolumeClaim)", who)
        if c.image_id:
            self._add("Pinned image ids (pdcompose.lock.json): the manifests name the image by tag; a cluster "
                      "pulls it from a registry", who)
        if c.restart != "unless-stopped" and c.dp and c.dp.nodes > 1:
            self._add('restart: "no" for multi-node DP groups becomes the LeaderWorkerSet\'s '
                      "RecreateGroupOnPodRestart: a failed pod recreates its whole group, leader first", who)
        for key in INTERFACE_ENV:
            value = c.env.get(key)
            if isinstance(value, str):
                self._add(f"{key}={value} names the hosts' own interface or device; carried over unchanged. A pod on "
                          "the pod network sees eth0 (and secondary networks under their own names): change it in "
                          "the topology's env if your pods see other names", who)
        self._scan(c)

    def router(self, host: Host, c: Container) -> None:
        self._add(f"The router ran on {host.name} ({host.address}) with static worker URLs; it runs as a Deployment "
                  "that discovers the vLLM pods by label (--service-discovery), binds its metrics on the pod IP, and "
                  "is reached through a ClusterIP Service (add an Ingress or a LoadBalancer to expose it)", c.service)
        self._add("Deploy's health gate (the router starts once every API server is ready) is not carried over: "
                  "the router adds each pod when it turns Ready (readiness on /v1/models, after the model loaded)",
                  c.service)
        self._scan(c)

    def _scan(self, c: Container) -> None:
        """Any other value that holds a host's address means nothing inside a pod."""
        values = [(k, v) for k, v in c.env.items() if isinstance(v, str) and k not in HANDLED_ENV]
        values += [(c.command[i - 1], t) for i, t in enumerate(c.command)
                   if i and c.command[i - 1] not in HANDLED_FLAGS]
        for key, value in values:
            for address in self._finder.find(value):
                self._add(f"{key} holds the address of host {self._addresses[address]} ({address}); carried over "
                          "unchanged, but pods have their own addresses: use a Service name instead", c.service)

    def lines(self, differences: list[Difference]) -> list[str]:
        out = []
        for topic, who in self._topics.items():
            names = list(who)
            shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
            out.append(f"{topic} [{shown}]")
        for d in differences:
            out.append(f"{d.service}: {d.key} is {d.k8s} instead of {d.compose}: {d.why}")
        out.append("Each vLLM pod also gets LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and LWS_WORKER_INDEX (set by "
                   "LeaderWorkerSet); --data-parallel-address is the leader pod's DNS name and "
                   "VLLM_NIXL_SIDE_CHANNEL_HOST the pod's IP (downward API), instead of the hosts' addresses")
        if any(isinstance(v, SecretRef) for _, c in self._plan.containers() for v in c.env.values()):
            out.append("{from_env: VAR} values are read from the Secret's key VAR, not from the deployer's "
                       "environment")
        return out
