"""Group -> LeaderWorkerSet: the pod templates of one instance (leader = the DP master, node 0).

Arguments: Kubernetes' own `$(VAR)` expansion fills in the leader's address (`$(LWS_LEADER_ADDRESS)`)
with no shell, so every other argument reaches vLLM byte for byte (each literal `$` is written `$$`,
which Kubernetes turns back into `$`). Only the start rank needs arithmetic (LWS_WORKER_INDEX x engines
per node), which Kubernetes cannot do: the workers' template runs a fixed POSIX `sh -c` wrapper that
computes it and replaces one placeholder argument. The wrapper receives the argv as positional
parameters, never as text to parse, so no argument is ever re-quoted or re-split by a shell.
"""

from __future__ import annotations

import math

from pdcompose.export import ExportError
from pdcompose.export.k8s.model import Arg, EnvRef, EnvValue, Export, FieldRef, Group, SecretKey, StartRank, Template

START_RANK = "@DP_START_RANK@"
WRAPPER = ('rank=$((LWS_WORKER_INDEX * {per_node})); for arg in "$@"; do shift; '
           'if [ "$arg" = "' + START_RANK + '" ]; then arg=$rank; fi; set -- "$@" "$arg"; done; exec "$@"')
IMEX_CLAIM = "imex-channel"
PERIOD = 10


def escape(text: str) -> str:
    """A literal for Kubernetes' $(VAR) expansion of command, args and env values."""
    return text.replace("$", "$$")


def arg(a: Arg) -> str:
    if isinstance(a, EnvRef):
        return f"$({a.var})"
    if isinstance(a, StartRank):
        return START_RANK
    return escape(a)


def env_list(env: dict[str, EnvValue], secret: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for name, value in env.items():
        if isinstance(value, SecretKey):
            out.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": value.key}}})
        elif isinstance(value, FieldRef):
            out.append({"name": name, "valueFrom": {"fieldRef": {"fieldPath": value.path}}})
        else:
            out.append({"name": name, "value": escape(value.value)})
    return out


def leaderworkerset(export: Export, g: Group) -> dict[str, object]:
    lwt: dict[str, object] = {"size": g.size, "restartPolicy": "RecreateGroupOnPodRestart"}
    if g.worker is not None:
        lwt["leaderTemplate"] = _pod_template(export, g, g.leader, leader=True)
        lwt["workerTemplate"] = _pod_template(export, g, g.worker, leader=False)
    else:
        lwt["workerTemplate"] = _pod_template(export, g, g.leader, leader=True)
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": g.name, "namespace": export.namespace, "labels": export.labels(g.role, g.instance)},
        # LeaderCreated: a vLLM DP master turns ready only once its workers joined, so workers must not wait
        # for a ready leader (LeaderReady would deadlock).
        "spec": {"replicas": 1, "startupPolicy": "LeaderCreated", "leaderWorkerTemplate": lwt},
    }


def _pod_template(export: Export, g: Group, t: Template, leader: bool) -> dict[str, object]:
    labels = export.labels(g.role, g.instance)
    if leader:
        labels["pdcompose.io/node"] = "0"   # workers: LWS's own leaderworkerset.sigs.k8s.io/worker-index
    spec: dict[str, object] = {
        "enableServiceLinks": False,        # Service env vars (VLLM_PORT=tcp://... for a Service named vllm) break vLLM
        "terminationGracePeriodSeconds": g.grace_seconds,
        "containers": [_container(export, g, t)],
        "volumes": _volumes(export, g),
    }
    if g.arch:
        spec["nodeSelector"] = node_selector(g.arch)
    if g.imex:
        spec["resourceClaims"] = [{"name": IMEX_CLAIM, "resourceClaimTemplateName": f"{export.prefix}-imex-channel"}]
    return {"metadata": {"labels": labels}, "spec": spec}


def _container(export: Export, g: Group, t: Template) -> dict[str, object]:
    starts = [a for a in t.args if isinstance(a, StartRank)]
    command = [escape(a) for a in t.entrypoint]
    if starts:
        if START_RANK in t.args:
            raise ExportError(f"an argument of {t.services[0]} is the wrapper's placeholder {START_RANK}; change it")
        command = ["/bin/sh", "-c", escape(WRAPPER.format(per_node=starts[0].per_node)), "sh", *command]
    limits: dict[str, object] = {"nvidia.com/gpu": g.gpus}
    if g.rdma:
        limits[export.rdma_resource] = 1
    resources: dict[str, object] = {"limits": limits}
    if g.imex:
        resources["claims"] = [{"name": IMEX_CLAIM}]
    container: dict[str, object] = {
        "name": "vllm", "image": g.image, "imagePullPolicy": pull_policy(g.pull_policy),
        "command": command, "args": [arg(a) for a in t.args], "env": env_list(t.env, export.secret),
        "ports": _ports(t), "resources": resources, "volumeMounts": _mounts(g),
        "startupProbe": _probe(g, "/v1/models", math.ceil(g.startup_seconds / PERIOD)),
        "readinessProbe": _probe(g, "/v1/models", 3),
        "livenessProbe": _probe(g, g.health_path, 3, auth=False),
    }
    if g.capabilities:
        container["securityContext"] = {"capabilities": {"add": list(g.capabilities)}}
    return container


def _ports(t: Template) -> list[dict[str, object]]:
    ports: list[dict[str, object]] = [{"name": "api", "containerPort": t.api_port, "protocol": "TCP"}]
    if t.rpc_port is not None:
        ports.append({"name": "dp-rpc", "containerPort": t.rpc_port, "protocol": "TCP"})
    ports += [{"name": f"nixl-r{rank}", "containerPort": port, "protocol": "TCP"}
              for rank, port in sorted(t.nixl_ports.items())]
    return ports


def _probe(g: Group, path: str, failures: int, auth: bool = True) -> dict[str, object]:
    probe: dict[str, object]
    if auth and g.probe_api_key:   # vLLM answers /v1/* with 401 without the key: send it from the environment
        code = ("import os, urllib.request; urllib.request.urlopen(urllib.request.Request("
                f"'http://127.0.0.1:{g.leader.api_port}{path}', headers={{'Authorization': 'Bearer ' + "
                "os.environ['VLLM_API_KEY']}), timeout=4)")
        probe = {"exec": {"command": ["python3", "-c", code]}}
    else:
        probe = {"httpGet": {"path": path, "port": "api"}}
    return {**probe, "periodSeconds": PERIOD, "timeoutSeconds": 5, "failureThreshold": failures}


def _mounts(g: Group) -> list[dict[str, object]]:
    mounts: list[dict[str, object]] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    if g.hf_cache:
        mounts.append({"name": "hf-cache", "mountPath": g.hf_cache})
    if g.secret_files:
        mounts.append({"name": "secrets", "mountPath": "/run/secrets", "readOnly": True})
    return mounts


def _volumes(export: Export, g: Group) -> list[dict[str, object]]:
    volumes: list[dict[str, object]] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    if g.hf_cache:
        volumes.append({"name": "hf-cache", "persistentVolumeClaim": {"claimName": export.hf_cache_claim}})
    if g.secret_files:
        items = [{"key": key, "path": name} for name, key in sorted(g.secret_files.items())]
        volumes.append({"name": "secrets", "secret": {"secretName": export.secret, "items": items}})
    return volumes


def node_selector(arch: str) -> dict[str, str]:
    """Docker's architecture names (amd64, arm64) are Kubernetes' too: the node label is the Go GOARCH."""
    return {"kubernetes.io/arch": arch}


def pull_policy(compose: str) -> str:
    return {"always": "Always", "never": "Never"}.get(compose, "IfNotPresent")
