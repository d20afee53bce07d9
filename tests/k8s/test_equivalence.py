"""For every vLLM node of each case: the exported pod's argv and environment, after LeaderWorkerSet and the
kubelet have done their part for that pod (leader address = the pod of index 0, the pod's worker index,
$(VAR) expansion, the worker wrapper run by /bin/sh), equal the Compose bundle's for the same node, except
the differences the export states (in NOTES.md and on stdout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pdcompose.export.k8s import make_options
from pdcompose.export.k8s.derive import derive
from pdcompose.plan.models import Plan, SecretRef
from tests.k8s.conftest import Case
from tests.k8s.sim import compose_argv_env, pod_argv, pod_env


def lws_for(objects: list[dict[str, Any]], role: str, instance: int) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == "LeaderWorkerSet"
             and o["metadata"]["labels"]["pdcompose.io/role"] == role
             and o["metadata"]["labels"]["pdcompose.io/instance"] == str(instance)]
    assert len(found) == 1, (role, instance)
    return found[0]


def template(lws: dict[str, Any], index: int) -> dict[str, Any]:
    lwt = lws["spec"]["leaderWorkerTemplate"]
    return lwt["leaderTemplate"] if index == 0 and "leaderTemplate" in lwt else lwt["workerTemplate"]


def apply_differences(differences: list[Any], service: str, argv: list[str], env: dict[str, str]) -> int:
    applied = 0
    for d in differences:
        if d.service != service:
            continue
        applied += 1
        if d.kind == "env":
            env[d.key] = d.k8s
        else:
            at = argv.index(d.key) + 1
            assert argv[at] == d.compose, (service, d)
            argv[at] = d.k8s
    return applied


def test_every_node_runs_what_compose_runs(case: Case, tmp_path: Path):
    plan = Plan.model_validate(case.plan)
    export = derive(plan, make_options(plan.cluster))
    objects = case.objects()
    stated = 0
    for host, c in plan.workers():
        lws = lws_for(objects, c.role, c.instance)
        assert lws["spec"]["leaderWorkerTemplate"]["size"] == (c.dp.nodes if c.dp else 1)
        container = template(lws, c.node)["spec"]["containers"][0]
        master = plan.host(next(h.name for h, o in plan.workers()
                                if (o.role, o.instance, o.node) == (c.role, c.instance, 0))).address
        lws_env = {"LWS_LEADER_ADDRESS": master, "LWS_WORKER_INDEX": str(c.node),
                   "LWS_GROUP_SIZE": str(lws["spec"]["leaderWorkerTemplate"]["size"])}
        env = pod_env(container, lws_env, pod_ip=host.address)
        argv = pod_argv(container, {**lws_env, **env}, tmp_path)

        compose_argv, compose_env = compose_argv_env(case.compose_service(host.name, c.service))
        stated += apply_differences(export.differences, c.service, compose_argv, compose_env)
        assert argv == compose_argv, c.service
        assert env == compose_env, c.service
    # The H100 case's decode shares hosts with the prefills (port 8088): the only stated differences there.
    assert stated == len(export.differences)
    assert bool(export.differences) == (case.name == "h100-colocated")


def test_stated_differences_are_printed_and_in_notes(case: Case):
    plan = Plan.model_validate(case.plan)
    export = derive(plan, make_options(plan.cluster))
    notes = (case.k8s / "NOTES.md").read_text()
    for line in export.notes:
        assert f"- {line}" in notes
        assert line in case.stdout.replace("\n", "") or line[:60] in case.stdout
    for d in export.differences:
        assert f"{d.service}: {d.key} is {d.k8s} instead of {d.compose}" in notes


def test_secret_files_and_volumes_match_compose(case: Case):
    plan = Plan.model_validate(case.plan)
    objects = case.objects()
    secrets = {s.name: s.from_env for s in plan.secrets}
    for _host, c in plan.workers():
        pod = template(lws_for(objects, c.role, c.instance), c.node)["spec"]
        container = pod["containers"][0]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/dev/shm"]]["emptyDir"] == {"medium": "Memory"}
        for name in c.secrets:   # Compose: /run/secrets/<name> from $VAR; here the Secret's key VAR, same path
            items = volumes[mounts["/run/secrets"]]["secret"]["items"]
            assert {"key": secrets[name], "path": name} in items
        hf_home = c.env.get("HF_HOME")
        if hf_home and any(v.endswith(f":{hf_home}") for v in c.volumes):
            assert "persistentVolumeClaim" in volumes[mounts[hf_home]]
        for var in container["env"]:   # a {from_env} value is a Secret reference, never a literal
            if isinstance(c.env.get(var["name"]), SecretRef):
                assert "secretKeyRef" in var["valueFrom"], var


def test_devices_become_kubernetes_resources(case: Case):
    plan = Plan.model_validate(case.plan)
    objects = case.objects()
    for host, c in plan.workers():
        pod = template(lws_for(objects, c.role, c.instance), c.node)["spec"]
        container = pod["containers"][0]
        limits = container["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == len(c.gpus)
        infiniband = "infiniband" in host.requires
        assert ("rdma/ib" in limits) == infiniband
        if infiniband:
            assert "IPC_LOCK" in container["securityContext"]["capabilities"]["add"]
        imex = "imex" in host.requires
        assert ("resourceClaims" in pod) == imex
        if imex:
            claim = pod["resourceClaims"][0]
            assert container["resources"]["claims"] == [{"name": claim["name"]}]
            domain = next(o for o in objects if o["kind"] == "ComputeDomain")
            assert claim["resourceClaimTemplateName"] == domain["spec"]["channel"]["resourceClaimTemplate"]["name"]


def test_declared_ports_are_where_vllm_listens(case: Case):
    """API, DP RPC (the master) and NIXL: VLLM_NIXL_SIDE_CHANNEL_PORT + each engine's global DP rank."""
    plan = Plan.model_validate(case.plan)
    objects = case.objects()
    for _host, c in plan.workers():
        container = template(lws_for(objects, c.role, c.instance), c.node)["spec"]["containers"][0]
        declared = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert len(set(declared.values())) == len(declared)
        base = int(next(e["value"] for e in container["env"] if e["name"] == "VLLM_NIXL_SIDE_CHANNEL_PORT"))
        ranks = c.dp.ranks if c.dp else range(1)
        assert {declared[f"nixl-r{r}"] for r in ranks} == {base + r for r in ranks}
        for use in c.ports:
            if use.purpose == "NIXL side channel":
                assert set(range(use.port, use.port + use.count)) <= set(declared.values())
            elif use.purpose == "DP RPC":
                assert declared["dp-rpc"] == use.port
        probes = (container["startupProbe"], container["readinessProbe"], container["livenessProbe"])
        paths = [p.get("httpGet", {}).get("path") or p["exec"]["command"][-1] for p in probes]
        assert "/v1/models" in paths[0] and "/v1/models" in paths[1] and paths[2] == "/health"


def test_hostile_arguments_survive_expansion_and_the_wrapper(tmp_path: Path):
    """`$`, `$(VAR)` text, quotes, backslashes, newlines, globs, empty and leading-dash values reach vLLM
    byte for byte through Kubernetes' expansion and the workers' sh wrapper; only the placeholder changes."""
    from pdcompose.export.k8s.pods import START_RANK, WRAPPER, escape

    hostile = ["$HOME", "$(LWS_WORKER_INDEX)", "$$", "a'b\"c", "back\\slash", "new\nline", "*", "", " sp ace ",
               "-x", "ünï", '{"k": "$(x)"}', "--data-parallel-start-rank", START_RANK, "$"]
    container = {"command": ["/bin/sh", "-c", escape(WRAPPER.format(per_node=4)), "sh", "vllm", "serve"],
                 "args": [escape(a) if a != START_RANK else a for a in hostile]}
    env = {"LWS_WORKER_INDEX": "3", "HOME": "/root"}
    got = pod_argv(container, env, tmp_path)
    assert got == ["vllm", "serve", *[a if a != START_RANK else "12" for a in hostile]]
