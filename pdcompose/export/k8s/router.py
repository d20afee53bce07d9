"""RouterSpec -> Deployment, Service, and the ServiceAccount, Role and RoleBinding vllm-router's
Kubernetes service discovery needs (list and watch pods in its own namespace)."""

from __future__ import annotations

from pdcompose.export.k8s.model import Export
from pdcompose.export.k8s.pods import arg, env_list, escape, node_selector, pull_policy


def router_objects(export: Export) -> list[dict[str, object]]:
    r = export.router
    meta = {"name": r.name, "namespace": export.namespace, "labels": export.labels("router")}
    ports = [{"name": "http", "containerPort": r.port, "protocol": "TCP"}]
    if r.metrics_port:
        ports.append({"name": "metrics", "containerPort": r.metrics_port, "protocol": "TCP"})
    probe = {"httpGet": {"path": r.health_path, "port": "http"}, "periodSeconds": 5, "timeoutSeconds": 5,
             "failureThreshold": 3}
    container = {
        "name": "router", "image": r.image, "imagePullPolicy": pull_policy(r.pull_policy),
        "command": [escape(a) for a in r.entrypoint], "args": [arg(a) for a in r.args],
        "env": env_list(r.env, export.secret), "ports": ports,
        "readinessProbe": probe, "livenessProbe": {**probe, "periodSeconds": 10},
    }
    pod: dict[str, object] = {"serviceAccountName": r.name, "enableServiceLinks": False,
                              "terminationGracePeriodSeconds": r.grace_seconds, "containers": [container]}
    if r.arch:
        pod["nodeSelector"] = node_selector(r.arch)
    deployment: dict[str, object] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": export.labels("router")},
            "template": {"metadata": {"labels": export.labels("router")}, "spec": pod},
        },
    }
    service: dict[str, object] = {
        "apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"type": "ClusterIP", "selector": export.labels("router"),
                 "ports": [{"name": p["name"], "port": p["containerPort"], "targetPort": p["name"], "protocol": "TCP"}
                           for p in ports]},
    }
    account: dict[str, object] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    role: dict[str, object] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}
    binding: dict[str, object] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": r.name},
               "subjects": [{"kind": "ServiceAccount", "name": r.name, "namespace": export.namespace}]}
    return [deployment, service, account, role, binding]
