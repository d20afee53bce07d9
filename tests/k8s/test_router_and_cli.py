"""The router finds exactly the vLLM pods through Kubernetes service discovery, with the RBAC it needs; the
CLI refuses bad input cleanly (exit 2, one line, no traceback) and leaves the previous export as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, REPO, flag_values, run_cli
from tests.k8s.conftest import Case
from tests.k8s.sim import compose_argv_env, expand


def test_router_discovers_every_vllm_pod_and_nothing_else(case: Case):
    objects = case.objects()
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    argv = [*container["command"], *container["args"]]
    flags = flag_values(argv)
    assert "--prefill" not in flags and "--decode" not in flags
    assert flags["--service-discovery"] == [[]]
    assert flags["--service-discovery-namespace"] == [["$(POD_NAMESPACE)"]]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    port = int(flags["--service-discovery-port"][0][0])
    templates = []
    for lws in (o for o in objects if o["kind"] == "LeaderWorkerSet"):
        lwt = lws["spec"]["leaderWorkerTemplate"]
        templates += [lwt[k] for k in ("leaderTemplate", "workerTemplate") if k in lwt]
    for role in ("prefill", "decode"):
        selector = dict(s.split("=", 1) for s in flags[f"--{role}-selector"][0])
        chosen = [t for t in templates if selector.items() <= t["metadata"]["labels"].items()]
        assert chosen and all(t["metadata"]["labels"]["pdcompose.io/role"] == role for t in chosen)
        assert len(chosen) == sum(t["metadata"]["labels"]["pdcompose.io/role"] == role for t in templates)
        for t in chosen:
            api = next(p for p in t["spec"]["containers"][0]["ports"] if p["name"] == "api")
            assert api["containerPort"] == port
            args = t["spec"]["containers"][0]["args"]
            assert args[args.index("--port") + 1] == str(port)
    # Everything else is the Compose router's command, flag for flag.
    plan = case.plan
    router_host = plan["router"]["host"]
    compose_argv, _ = compose_argv_env(case.compose_service(router_host, "router"))
    compose_flags = flag_values(compose_argv)
    for flag, values in compose_flags.items():
        if flag in ("--prefill", "--decode"):
            continue
        if flag == "--prometheus-host":
            assert expand(flags[flag][0][0], {"POD_IP": "10.9.9.9"}) == "10.9.9.9"
            continue
        assert flags[flag] == values, flag
    # RBAC: the Deployment's ServiceAccount may list and watch pods in its namespace.
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    binding = next(o for o in objects if o["kind"] == "RoleBinding")
    role = next(o for o in objects if o["kind"] == "Role")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "default"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert {"list", "watch"} <= set(role["rules"][0]["verbs"]) and role["rules"][0]["resources"] == ["pods"]
    service = next(o for o in objects if o["kind"] == "Service")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_secret_values_are_never_written(tmp_path: Path):
    out = tmp_path / "k8s"
    env = {"HF_TOKEN": "hf_canary_0123456789", "KIMI_API_KEY": "kimi_canary_0123456789"}
    for topology in (EXAMPLE, REPO / "tests/golden/kimi-overrides/topology.yaml"):
        result = run_cli("export", "k8s", "-f", topology, "-o", out, env=env)
        assert result.returncode == 0, result.stderr
        text = "".join(p.read_text() for p in out.iterdir() if p.is_file()) + result.stdout + result.stderr
        assert "canary" not in text


@pytest.mark.parametrize(("args", "message"), [
    (["--namespace", "Prod_NS"], "--namespace: 'Prod_NS' is not a DNS label"),
    (["--namespace", "-x"], "--namespace: '-x' is not a DNS label"),
    (["--namespace", "a" * 64], "is not a DNS label"),
    (["--prefix", "9lives"], "--prefix"),
    (["--hf-cache-claim", "My Cache"], "--hf-cache-claim"),
    (["--rdma-resource", "rdma ib"], "--rdma-resource"),
])
def test_bad_options_are_clean_errors(tmp_path: Path, args: list[str], message: str):
    result = run_cli("export", "k8s", "-f", EXAMPLE, "-o", tmp_path / "k8s", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "k8s").exists()


def test_output_that_is_a_file_or_foreign_is_refused(tmp_path: Path):
    target = tmp_path / "manifests.yaml"
    target.write_text("mine\n")
    result = run_cli("export", "k8s", "-f", EXAMPLE, "-o", target)
    assert result.returncode == 2 and "exists and is not a directory" in result.stderr
    assert "Traceback" not in result.stderr and target.read_text() == "mine\n"
    foreign = tmp_path / "charts"
    foreign.mkdir()
    (foreign / "values.yaml").write_text("mine\n")
    result = run_cli("export", "k8s", "-f", EXAMPLE, "-o", foreign, "--json")
    assert result.returncode == 2 and '"status": "error"' in result.stdout
    assert (foreign / "values.yaml").read_text() == "mine\n"


def test_reexport_replaces_its_own_output_and_keeps_it_on_error(tmp_path: Path):
    out = tmp_path / "k8s"
    assert run_cli("export", "k8s", "-f", EXAMPLE, "-o", out).returncode == 0
    before = (out / "leaderworkerset.yaml").read_bytes()
    assert run_cli("export", "k8s", "-f", EXAMPLE, "-o", out, "--namespace", "Bad").returncode == 2
    assert (out / "leaderworkerset.yaml").read_bytes() == before
    result = run_cli("export", "k8s", "-f", EXAMPLE, "-o", out, "--namespace", "inference")
    assert result.returncode == 0, result.stderr
    assert "namespace: inference" in (out / "kustomization.yaml").read_text()
    assert "LWS_WORKER_INDEX" in result.stdout


def test_a_rehearsal_topology_is_refused(tmp_path: Path):
    topology = tmp_path / "t.yaml"
    topology.write_text(EXAMPLE.read_text() + "rehearsal: {enabled: true}\n")
    result = run_cli("export", "k8s", "-f", topology, "-o", tmp_path / "k8s")
    assert result.returncode == 2 and "rehearsal" in result.stderr and "Traceback" not in result.stderr
