"""`api_key: {from_env: VAR}`: one Compose secret per host, read by each container's entrypoint into the
variable its program reads (vLLM: VLLM_API_KEY, the router: OPENAI_API_KEY); the key itself never reaches
argv, the environment block, the Compose file or plan.json, and a literal key is refused naming the field."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pdcompose import topology
from pdcompose.errors import TopologyError
from pdcompose.plan import auth, build_plan
from pdcompose.render import render_files
from tests.topologies import pd_topology

KEY = "sk-h21-NotARealKey-0123456789abcdef"


def text(extra: str = "api_key: {from_env: H21_KEY}\n", **kwargs: object) -> str:
    return pd_topology("h21u", first="127.0.121.10", enabled=False, image="vllm/vllm-openai:v0.13.0",
                       extra=extra, **kwargs)  # type: ignore[arg-type]


def plan_of(yaml: str, rehearsal: bool = False):
    return build_plan(topology.from_text(yaml, "t.yaml"), rehearsal=rehearsal)[0]


@pytest.mark.parametrize("rehearsal", [False, True])
def test_every_api_server_and_the_router_read_the_key_from_one_secret(rehearsal: bool):
    plan = plan_of(text(), rehearsal)
    assert auth.key_variable(plan) == "H21_KEY"
    for host in plan.hosts:
        assert [(s.name, s.from_env) for s in host.secrets] == [("api_key", "H21_KEY")]
        for c in host.containers:
            assert "api_key" in c.secrets
            want = ["vllm", "serve"] if c.role != "router" else ["vllm-router"]
            assert auth.program(c.entrypoint) == want and c.entrypoint[:2] == ["/bin/sh", "-c"]
            var = auth.ROUTER_VAR if c.role == "router" else auth.WORKER_VAR
            assert f'export {var}; exec "$@"' in c.entrypoint[2]
            assert not {"VLLM_API_KEY", "OPENAI_API_KEY"} & set(c.env) and "--api-key" not in c.command


def test_without_api_key_nothing_changes():
    plan = plan_of(text(""))
    assert auth.key_variable(plan) is None
    assert all(not c.secrets and c.entrypoint in (["vllm", "serve"], ["vllm-router"]) for _, c in plan.containers())


def test_the_compose_file_names_the_variable_never_the_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("H21_KEY", KEY)
    files = render_files(plan_of(text()))
    for name, data in files.items():
        assert KEY.encode() not in data, name
    compose = files["p/compose.yaml"].decode()
    assert 'secrets:\n  "api_key":\n    environment: "H21_KEY"' in compose
    assert 'exec \\"$$@\\"' in compose      # Compose would otherwise interpolate the shell's "$@"


@pytest.mark.parametrize("extra", ["api_key: sk-h21-literal\n", "api_key: [sk-h21-literal]\n"])
def test_a_literal_key_is_refused_naming_the_field(extra: str):
    with pytest.raises(TopologyError) as exc:
        topology.from_text(text(extra), "t.yaml")
    [issue] = exc.value.issues
    assert issue.path == "api_key" and "{from_env: VLLM_API_KEY}" in issue.message
    assert "sk-h21-literal" not in str(exc.value)


@pytest.mark.parametrize(("extra", "where"), [
    ("api_key: {from_env: H21_KEY}\nenv: {VLLM_API_KEY: {from_env: OTHER}}\n", "env.VLLM_API_KEY"),
])
def test_a_second_way_to_give_the_worker_key_conflicts(extra: str, where: str):
    with pytest.raises(TopologyError) as exc:
        plan_of(text(extra))
    assert [i.path for i in exc.value.issues] == [where]
    assert "api_key" in exc.value.issues[0].message


def test_router_env_key_conflicts():
    yaml = text().replace("router: {host: r}", "router: {host: r, env: {OPENAI_API_KEY: {from_env: OTHER}}}")
    with pytest.raises(TopologyError) as exc:
        plan_of(yaml)
    assert [i.path for i in exc.value.issues] == ["router.env.OPENAI_API_KEY"]


def _run_entrypoint(tmp_path: Path, content: str | None) -> subprocess.CompletedProcess[str]:
    """The keyed entrypoint, run by this machine's /bin/sh with the secret path pointed at a temp file."""
    secret = tmp_path / "api_key"
    if content is not None:
        secret.write_text(content)
    argv = auth.keyed_entrypoint(["sh", "-c", 'printf "%s|%s" "$VLLM_API_KEY" "$1"', "prog"], auth.WORKER_VAR)
    argv[2] = argv[2].replace(auth.SECRET_PATH, str(secret))
    env = {k: v for k, v in os.environ.items() if k != "VLLM_API_KEY"}
    return subprocess.run([*argv, "arg1"], capture_output=True, text=True, env=env, check=False)


def test_the_entrypoint_exports_the_key_and_passes_argv_untouched(tmp_path: Path):
    done = _run_entrypoint(tmp_path, KEY + "\n")
    assert done.returncode == 0 and done.stdout == f"{KEY}|arg1"


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_a_missing_or_empty_secret_stops_the_container(tmp_path: Path, content: str | None):
    # vLLM with an empty VLLM_API_KEY serves everyone: the entrypoint must refuse to start it
    done = _run_entrypoint(tmp_path, content)
    assert done.returncode == 78 and "api_key" in done.stderr and done.stdout == ""


def test_an_unset_key_at_deploy_time_names_the_field_and_starts_nothing(monkeypatch: pytest.MonkeyPatch):
    from pdcompose.deploy import run as deploy_run
    from pdcompose.deploy.model import DeployOptions
    from pdcompose.errors import PdcomposeError
    from tests.helpers import Steps

    monkeypatch.setenv("H21_KEY", "")           # empty is unset: vLLM would then serve without a key
    monkeypatch.setattr(deploy_run, "require_fast_checks", lambda *a: pytest.fail("reached the doctor"))
    monkeypatch.setattr(deploy_run, "require_reachable", lambda *a: pytest.fail("reached a host"))
    with pytest.raises(PdcomposeError, match=r"^H21_KEY is not set: .*nothing was started \(api_key: "
                                             r"\{from_env: H21_KEY\}\)"):
        deploy_run.deploy(plan_of(text()), Path("unused"), DeployOptions(), Steps())


def test_export_k8s_refuses_a_keyed_plan_naming_the_field():
    from pdcompose.export import ExportError
    from pdcompose.export.k8s.derive import derive
    from pdcompose.export.k8s.options import make_options

    with pytest.raises(ExportError, match=r"^api_key: export k8s does not carry"):
        derive(plan_of(text()), make_options("h21u"))
