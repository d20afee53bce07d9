"""Docker failures end in a clean error, never a traceback: each path faked at the python-on-whales
boundary (a DockerException from the call pdcompose makes), so these run without an engine. The same
paths against real Docker (a context gone in the middle of a deploy) are in tests/faults/."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from python_on_whales import DockerException

from pdcompose import topology
from pdcompose.cli.common import handles_errors
from pdcompose.deploy import run as deploy_run
from pdcompose.deploy.model import DeployFailed, DeployOptions
from pdcompose.engine import contexts
from pdcompose.engine.errors import wrapped
from pdcompose.errors import DockerOperationError, PdcomposeError
from pdcompose.ops import logs as ops_logs
from pdcompose.plan import build_plan
from tests.helpers import Steps
from tests.topologies import pd_topology


def docker_error(*command: str, stderr: str = "Error: boom") -> DockerException:
    return DockerException(["docker", *command], 1, b"", stderr.encode())


def raising(exc: Exception):  # noqa: ANN201
    def fn(*_a: object, **_k: object):  # noqa: ANN202
        raise exc
    return fn


@pytest.fixture
def plan(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "pdcompose.yaml"
    path.write_text(pd_topology("errs", first="127.0.7.10"))
    return build_plan(topology.load(path))[0]


def test_listing_contexts_fails_cleanly(plan, monkeypatch):
    fake = SimpleNamespace(context=SimpleNamespace(list=raising(docker_error("context", "ls",
                                                                             stderr="open /x/meta: not a directory"))))
    monkeypatch.setattr(contexts, "DockerClient", lambda: fake)
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    with pytest.raises(PdcomposeError, match=r"rehearsal's Docker contexts: `docker context ls` failed "
                                             r"\(exit 1\): open /x/meta: not a directory"):
        contexts.ensure_rehearsal_contexts(plan)
    with pytest.raises(PdcomposeError, match="cannot remove the rehearsal's Docker contexts"):
        contexts.remove_rehearsal_contexts(plan)


def test_creating_a_context_fails_cleanly(plan, monkeypatch):
    fake = SimpleNamespace(context=SimpleNamespace(
        list=lambda: [], create=raising(docker_error("context", "create", stderr="permission denied"))))
    monkeypatch.setattr(contexts, "DockerClient", lambda: fake)
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    with pytest.raises(PdcomposeError, match="`docker context create` failed .*permission denied"):
        contexts.ensure_rehearsal_contexts(plan)


def test_reading_the_current_context_fails_cleanly(monkeypatch):
    fake = SimpleNamespace(context=SimpleNamespace(inspect=raising(docker_error("context", "inspect"))))
    monkeypatch.setattr(contexts, "DockerClient", lambda: fake)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.raises(PdcomposeError, match="cannot read the current Docker context"):
        contexts.local_endpoint()


def test_a_log_fetch_that_fails_names_its_host(plan, monkeypatch):
    fake = SimpleNamespace(container=SimpleNamespace(logs=raising(docker_error("logs", "c1",
                                                                               stderr="Error: No such container"))))
    monkeypatch.setattr(ops_logs, "project_client", lambda host: fake)
    src = ops_logs.Source(plan.host("d"), "decode-0-node-0", "c1")
    with pytest.raises(DockerOperationError, match=r"^d: `docker logs c1` failed \(exit 1\): Error: No such container"):
        list(ops_logs.merged([src], 10, None))


def test_the_cli_backstop_turns_any_docker_error_into_one_line(capsys):
    @handles_errors
    def command(as_json: bool = False) -> None:
        raise docker_error("ps", stderr="Cannot connect to the Docker daemon")

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == 1
    err = capsys.readouterr().err
    assert "`docker ps` failed (exit 1): Cannot connect to the Docker daemon" in err and "Traceback" not in err


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"[]", b'{"choices": []}'])
def test_a_smoke_answer_that_is_not_a_completion_is_a_clean_failure(plan, monkeypatch, body):
    from pdcompose.engine.access import Access
    from pdcompose.engine.inside import Answer

    access = Access("direct")
    monkeypatch.setattr(access, "fetch", lambda *a, **k: [Answer(200, body)])
    with pytest.raises(DeployFailed, match="smoke request through the router answered 200"):
        deploy_run._smoke(plan, access)


def test_a_docker_error_in_the_run_ends_with_the_state_and_rolls_back(plan, monkeypatch):
    """What the gate's container watch raises (`docker ps` failing) becomes DeployFailed with the hosts'
    state, --rollback still removes what the run made, and a rollback that fails is reported."""
    hosts = plan.hosts
    monkeypatch.setattr(deploy_run, "select_hosts", lambda p, c: hosts)
    monkeypatch.setattr(deploy_run, "missing_secrets", lambda h: [])
    monkeypatch.setattr(deploy_run, "ensure_rehearsal_contexts", lambda p: [])
    monkeypatch.setattr(deploy_run, "require_reachable", lambda h, t: None)
    monkeypatch.setattr(deploy_run.containers, "states", lambda host: {})
    monkeypatch.setattr(deploy_run, "_run", raising(docker_error("ps", "-a", stderr="context \"x\" not found")))
    downed: list[str] = []

    def client(host):  # noqa: ANN001, ANN202
        def down(**_k: object) -> None:
            downed.append(host.name)
            if host.name == "d":
                raise docker_error("compose", "down", stderr="Cannot connect to the Docker daemon")
        return SimpleNamespace(compose=SimpleNamespace(down=down))

    monkeypatch.setattr(deploy_run, "project_client", client)
    steps = Steps()
    with pytest.raises(DeployFailed) as info:
        deploy_run.deploy(plan, Path("unused"), DeployOptions(rollback=True, skip_doctor=True), steps)
    assert str(info.value) == 'deploy stopped: `docker ps -a` failed (exit 1): context "x" not found'
    assert sorted(downed) == ["d", "p", "r"]
    assert "p: nothing running" in info.value.state
    assert "rollback failed on d: `docker compose down` failed (exit 1): Cannot connect" in info.value.state
    assert any(line.startswith("rollback failed on d:") for line in steps.lines)


def test_a_pdcompose_error_in_the_run_also_ends_with_the_state(plan, monkeypatch):
    monkeypatch.setattr(deploy_run, "select_hosts", lambda p, c: plan.hosts)
    monkeypatch.setattr(deploy_run, "missing_secrets", lambda h: [])
    monkeypatch.setattr(deploy_run, "ensure_rehearsal_contexts", lambda p: [])
    monkeypatch.setattr(deploy_run, "require_reachable", lambda h, t: None)
    monkeypatch.setattr(deploy_run.containers, "states", lambda host: {})
    monkeypatch.setattr(deploy_run, "_run", raising(DockerOperationError("d", "`docker ps` failed (exit 1): gone")))
    with pytest.raises(DeployFailed, match=r"^deploy stopped: d: `docker ps` failed") as info:
        deploy_run.deploy(plan, Path("unused"), DeployOptions(skip_doctor=True), Steps())
    assert "d: nothing running" in info.value.state


def test_down_that_fails_midway_says_what_it_left(tmp_path: Path, monkeypatch):
    """Through the CLI: `compose stop` fails on one host; the command exits 1 with one error line, after
    each host's state (no rehearsal here, so nothing else touches Docker)."""
    from typer.testing import CliRunner

    from pdcompose.cli import app
    from pdcompose.deploy import containers
    from pdcompose.ops import down as ops_down

    (tmp_path / "pdcompose.yaml").write_text(pd_topology("errs", first="127.0.7.10", enabled=False,
                                                         image="vllm/vllm-openai:v0.13.0"))

    def client(host):  # noqa: ANN001, ANN202
        def stop(**_k: object) -> None:
            if host.name == "d":
                raise docker_error("compose", "stop", stderr="Cannot connect to the Docker daemon")
        return SimpleNamespace(compose=SimpleNamespace(stop=stop, down=lambda **_k: None))

    monkeypatch.setattr(ops_down, "project_client", client)
    monkeypatch.setattr(containers, "states", lambda host: {})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["down"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    out = result.output
    assert "state of the hosts now:" in out and "d: nothing running" in out
    assert "d: `docker compose stop` failed (exit 1): Cannot connect to the Docker daemon" in out


def test_a_docker_error_keeps_the_call_in_fields_and_reads_as_one_line():
    err = wrapped("d", docker_error("compose", "up", "-d", stderr="warming up\nError: port is already allocated"))
    assert (err.host, err.command, err.return_code) == ("d", ("docker", "compose", "up", "-d"), 1)
    assert err.stderr == "warming up\nError: port is already allocated" and err.stdout == ""
    assert str(err) == "d: `docker compose up -d` failed (exit 1): Error: port is already allocated"
    assert err.details() == {"host": "d", "command": ["docker", "compose", "up", "-d"], "return_code": 1,
                             "stderr": "warming up\nError: port is already allocated"}
    assert DockerOperationError("d", "no answers").details() == {"host": "d"}     # no call failed


def test_a_timed_cli_call_keeps_its_argv_return_code_and_stderr():
    from pdcompose.engine.cli import CliResult

    result = CliResult(125, "", "Error response from daemon: No such image: x:1\n",
                       ("docker", "--context", "c", "image", "inspect", "x:1"))
    err = result.error("p", "cannot inspect x:1")
    assert str(err) == "p: cannot inspect x:1: Error response from daemon: No such image: x:1"
    assert (err.command, err.return_code) == (("docker", "--context", "c", "image", "inspect", "x:1"), 125)
    assert err.stderr.startswith("Error response from daemon")


def test_json_errors_carry_the_failed_call(capsys):
    import json

    @handles_errors
    def command(as_json: bool = False) -> None:
        raise wrapped("d", docker_error("compose", "stop", stderr="Cannot connect to the Docker daemon"))

    with pytest.raises(typer.Exit):
        command(as_json=True)
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"status": "error", "error": "d: `docker compose stop` failed (exit 1): Cannot connect to the "
                                               "Docker daemon", "issues": [], "host": "d",
                   "command": ["docker", "compose", "stop"], "return_code": 1,
                   "stderr": "Cannot connect to the Docker daemon"}


def test_down_names_the_host_once_when_removing_fails(plan, monkeypatch):
    from pdcompose.ops import down as ops_down

    fake = SimpleNamespace(compose=SimpleNamespace(down=raising(docker_error("compose", "down", stderr="boom"))))
    monkeypatch.setattr(ops_down, "project_client", lambda host: fake)
    with pytest.raises(DockerOperationError) as info:
        ops_down._remove(plan.host("d"))
    assert str(info.value) == "d: `docker compose down` failed (exit 1): boom"


def test_docker_s_exit_status_is_not_the_cli_s(capsys):
    @handles_errors
    def command(as_json: bool = False) -> None:
        raise wrapped("d", DockerException(["docker", "ps"], 125, b"", b"Error: unknown flag"))

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == 1                # pdcompose's own code for a failed operation, not Docker's 125
