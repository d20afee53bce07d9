"""Plan -> the neutral export model: one Group per instance, the router, and every difference stated.

Pure, like the planner: nothing here is re-derived from the topology. What the Plan computed per Docker
host (addresses, per-host ports) is mapped to what Kubernetes provides per pod (the leader's DNS name,
the pod IP, one port for every pod); whatever has no Kubernetes form is a note, never dropped silently.
"""

from __future__ import annotations

from itertools import groupby

from pdcompose.export import ExportError
from pdcompose.export.k8s import lost
from pdcompose.export.k8s.model import (
    Arg,
    Difference,
    EnvRef,
    EnvValue,
    Export,
    FieldRef,
    Group,
    RouterSpec,
    SecretKey,
    StartRank,
    Template,
    Value,
)
from pdcompose.export.k8s.options import ExportOptions
from pdcompose.plan.models import Container, Host, Plan, SecretRef

NIXL_HOST = "VLLM_NIXL_SIDE_CHANNEL_HOST"
NIXL_PORT = "VLLM_NIXL_SIDE_CHANNEL_PORT"
ROLES = ("prefill", "decode")
ONE_TEMPLATE = "the workers of an instance share one pod template (node 1's)"


def derive(plan: Plan, options: ExportOptions) -> Export:
    if plan.rehearsal:
        raise ExportError("this plan is a rehearsal (mock images, loopback addresses); export the real topology: "
                          "drop --rehearsal / set rehearsal.enabled: false")
    if any(s.name == "api_key" for s in plan.secrets):
        # its entrypoint reads a Compose secret file that no pod would have: refuse rather than export pods
        # that stop at start (carrying it to a Kubernetes Secret is not done yet)
        raise ExportError("api_key: export k8s does not carry the cluster's API key yet; export a copy of the "
                          "topology without api_key, and give the pods VLLM_API_KEY from a Kubernetes Secret")
    if plan.entry is not None:
        # nginx with the operator's certificate is a Compose deployment's door; a cluster has its own Ingress
        raise ExportError("entry: export k8s does not carry the TLS entry; export a copy of the topology without "
                          "`entry:`, and terminate TLS and client keys at the cluster's Ingress")
    workers = plan.workers()
    if not workers:
        raise ExportError("the plan has no vLLM nodes to export")
    api_port = _port(workers[0][1], "API")
    notes = lost.Notes(plan)
    differences: list[Difference] = []
    groups = []
    key = lambda hc: (ROLES.index(hc[1].role), hc[1].instance)  # noqa: E731
    for (_, instance), members in groupby(sorted(workers, key=lambda hc: (*key(hc), hc[1].node)), key=key):
        nodes = list(members)
        role = nodes[0][1].role
        groups.append(_group(plan, options, role, instance, nodes, api_port, differences))
        for host, c in nodes:
            notes.container(host, c)
    router_host, router = plan.containers("router")[0]
    notes.router(router_host, router)
    imex_nodes = sum(g.size for g in groups if g.imex)
    return Export(cluster=plan.cluster, source=plan.source, fingerprint=plan.fingerprint,
                  namespace=options.namespace, prefix=options.prefix, secret=options.secret,
                  hf_cache_claim=options.hf_cache_claim, rdma_resource=options.rdma_resource, api_port=api_port,
                  groups=groups, router=_router(plan, options, router_host, router, api_port), imex_nodes=imex_nodes,
                  secret_keys=sorted({s.from_env for s in plan.secrets} | _secret_env(plan)),
                  differences=differences, notes=notes.lines(differences))


def _group(plan: Plan, options: ExportOptions, role: str, instance: int, nodes: list[tuple[Host, Container]],
           api_port: int, differences: list[Difference]) -> Group:
    _, first = nodes[0]
    leader = _template(plan, [c for _, c in nodes[:1]], api_port, differences)
    worker = _template(plan, [c for _, c in nodes[1:]], api_port, differences) if len(nodes) > 1 else None
    by_name = {s.name: s.from_env for s in plan.secrets}
    hf_home = first.env.get("HF_HOME")
    mounts = [v.split(":")[1] for v in first.volumes if v.count(":") >= 1]
    return Group(
        name=f"{options.prefix}-{role}-{instance}", role=role, instance=instance, size=len(nodes),
        image=first.image, pull_policy=first.pull_policy, leader=leader, worker=worker,
        gpus=max(len(c.gpus) for _, c in nodes), rdma=any(lost.is_infiniband(d) for d in first.devices),
        imex=any(lost.is_imex(d) for d in first.devices), capabilities=list(first.cap_add),
        hf_cache=hf_home if isinstance(hf_home, str) and hf_home in mounts else None,
        secret_files={name: by_name[name] for name in first.secrets},
        health_path=first.health_path, startup_seconds=max(plan.health_timeout, first.healthcheck.start_period),
        grace_seconds=first.stop_grace_period, probe_api_key="VLLM_API_KEY" in first.env,
        arch=_arch([h for h, _ in nodes]))


def _template(plan: Plan, members: list[Container], api_port: int, differences: list[Difference]) -> Template:
    """The template for `members` (one node, or nodes 1..n-1), from the first; the others' deviations are
    differences."""
    first = members[0]
    args = _args(first, api_port, differences)
    env = {k: _env(k, v) for k, v in first.env.items()}
    for c in members[1:]:
        own = _args(c, api_port, differences)
        if own != args:
            differences.append(Difference(service=c.service, kind="arg", key="(argv)", compose=" ".join(c.command),
                                          k8s=" ".join(a if isinstance(a, str) else repr(a) for a in args),
                                          why=f"{ONE_TEMPLATE}; this node's own arguments cannot be expressed"))
        for k in sorted(set(env) | set(c.env)):
            mine, theirs = c.env.get(k), env.get(k)
            if theirs is None or mine is None or _env(k, mine) != theirs:
                differences.append(Difference(service=c.service, kind="env", key=k, compose=_show(mine),
                                              k8s=_show(theirs), why=f"{ONE_TEMPLATE}; each pod has its own IP, "
                                              "so its NIXL ports cannot collide with another pod's"
                                              if k == NIXL_PORT else ONE_TEMPLATE))
    base = first.env.get(NIXL_PORT)
    nixl = {}
    if isinstance(base, str) and base.isdigit():
        for c in members:
            ranks = c.dp.ranks if c.dp else range(_count(c, "NIXL side channel"))
            nixl.update({r: int(base) + r for r in ranks})
    rpc = next((p.port for p in first.ports if p.purpose == "DP RPC"), None)
    return Template(services=[c.service for c in members], entrypoint=list(first.entrypoint), args=args, env=env,
                    api_port=api_port, rpc_port=rpc, nixl_ports=nixl)


def _args(c: Container, api_port: int, differences: list[Difference]) -> list[Arg]:
    out: list[Arg] = []
    argv = c.command
    for i, token in enumerate(argv):
        flag = argv[i - 1] if i else ""
        if flag == "--host" and token == c.env.get(NIXL_HOST):
            # the node's own address, as in Compose: the pod's IP (the same downward-API value as the NIXL host)
            out.append(EnvRef(var=NIXL_HOST))
            continue
        if flag == "--port" and token != str(api_port):
            differences.append(Difference(
                service=c.service, kind="arg", key="--port", compose=token, k8s=str(api_port),
                why="vllm-router's service discovery takes one port for every pod it finds, and each pod has its "
                    "own IP; the plan gave this node another port only because it shares a Docker host"))
            out.append(str(api_port))
        elif flag == "--data-parallel-address" and c.dp and token == c.dp.address:
            out.append(EnvRef(var="LWS_LEADER_ADDRESS"))
        elif flag == "--data-parallel-start-rank" and c.dp and token == str(c.dp.start_rank):
            out.append(StartRank(per_node=c.dp.local))
        else:
            out.append(token)
    return out


def _env(key: str, value: str | SecretRef | None) -> EnvValue:
    if isinstance(value, SecretRef):
        return SecretKey(key=value.from_env)
    if key == NIXL_HOST:
        return FieldRef(path="status.podIP")
    return Value(value=value or "")


def _show(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, SecretRef):
        return f"secret {value.from_env}"
    if isinstance(value, Value):
        return value.value
    if isinstance(value, SecretKey):
        return f"secret {value.key}"
    if isinstance(value, FieldRef):
        return f"downward API {value.path}"
    return str(value)


def _arch(hosts: list[Host]) -> str | None:
    """The architecture the hosts' profiles state, if they agree: the pods' node selector (an image built
    for arm64, as GB200's Grace CPUs need, cannot run on an amd64 node of a mixed cluster)."""
    arches = {h.arch for h in hosts}
    return arches.pop() if len(arches) == 1 else None


def _router(plan: Plan, options: ExportOptions, host: Host, c: Container, api_port: int) -> RouterSpec:
    args: list[Arg] = []
    argv = c.command
    skipping = False
    for i, token in enumerate(argv):
        if token.startswith("--"):
            skipping = token in ("--prefill", "--decode")
            if skipping and not any(a == "--service-discovery" for a in args):
                args += _discovery(options, api_port)
        if skipping:
            continue
        args.append(EnvRef(var="POD_IP") if i and argv[i - 1] == "--prometheus-host" else token)
    if "--service-discovery" not in args:
        args += _discovery(options, api_port)
    env: dict[str, EnvValue] = {k: _env(k, v) for k, v in c.env.items()}
    env |= {"POD_IP": FieldRef(path="status.podIP"), "POD_NAMESPACE": FieldRef(path="metadata.namespace")}
    metrics = [p.port for p in c.ports if p.purpose == "router metrics"]
    return RouterSpec(name=f"{options.prefix}-router", image=c.image, pull_policy=c.pull_policy,
                      entrypoint=list(c.entrypoint), args=args, env=env, port=_port(c, "router"),
                      metrics_port=metrics[0] if metrics else None, health_path=c.health_path,
                      grace_seconds=c.stop_grace_period, arch=host.arch)


def _discovery(options: ExportOptions, api_port: int) -> list[Arg]:
    def selector(role: str) -> list[Arg]:
        return [f"pdcompose.io/cluster={options.prefix}", f"pdcompose.io/role={role}"]

    return ["--service-discovery", "--prefill-selector", *selector("prefill"), "--decode-selector",
            *selector("decode"), "--service-discovery-port", str(api_port), "--service-discovery-namespace",
            EnvRef(var="POD_NAMESPACE")]


def _port(c: Container, purpose: str) -> int:
    return next(p.port for p in c.ports if p.purpose == purpose)


def _count(c: Container, purpose: str) -> int:
    return next((p.count for p in c.ports if p.purpose == purpose), 0)


def _secret_env(plan: Plan) -> set[str]:
    return {v.from_env for _, c in plan.containers() for v in c.env.values() if isinstance(v, SecretRef)}
