"""Which plan a day-2 command acts on when a rehearsal of the topology runs on the local engine (the
Docker side is faked here; tests/faults/test_rehearsal_found.py runs it against a real rehearsal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdcompose.cli import common
from pdcompose.ops import locate
from tests.topologies import pd_topology


@pytest.fixture
def topology(tmp_path: Path, monkeypatch) -> Path:  # noqa: ANN001
    path = tmp_path / "pdcompose.yaml"
    path.write_text(pd_topology("found", first="127.0.7.10", enabled=False, image="vllm/vllm-openai:v0.13.0"))
    monkeypatch.chdir(tmp_path)
    # Loading a plan reads only: the commands that reach hosts create a rehearsal's contexts themselves.
    monkeypatch.setattr("pdcompose.engine.contexts.ensure_rehearsal_contexts",
                        lambda plan: pytest.fail("deployed_plan created Docker contexts"))
    return path


def test_the_rehearsal_is_used_when_the_real_hosts_have_nothing(topology, monkeypatch, capsys):
    monkeypatch.setattr(locate, "rehearsal_running", lambda plan: True)
    monkeypatch.setattr(locate, "real_hosts_empty", lambda plan: True)
    plan = common.deployed_plan(topology, None, False)
    assert plan.rehearsal and plan.host("p").context == "rehearsal-found-p"
    assert capsys.readouterr().err.count("acting on the rehearsal running on the local engine") == 1


def test_real_hosts_that_have_something_win_and_the_rehearsal_is_named(topology, monkeypatch, capsys):
    monkeypatch.setattr(locate, "rehearsal_running", lambda plan: True)
    monkeypatch.setattr(locate, "real_hosts_empty", lambda plan: False)
    plan = common.deployed_plan(topology, None, False)
    assert not plan.rehearsal
    assert "a rehearsal of found is also running on the local engine: add --rehearsal" in capsys.readouterr().err


def test_no_rehearsal_no_probe_of_the_real_hosts(topology, monkeypatch, capsys):
    monkeypatch.setattr(locate, "rehearsal_running", lambda plan: False)
    monkeypatch.setattr(locate, "real_hosts_empty", lambda plan: pytest.fail("probed the real hosts"))
    assert not common.deployed_plan(topology, None, False).rehearsal
    assert capsys.readouterr().err == ""


def test_an_explicit_bundle_folder_is_taken_as_given(topology, monkeypatch):
    monkeypatch.setattr(locate, "rehearsal_running", lambda plan: pytest.fail("looked for a rehearsal"))
    assert not common.deployed_plan(topology, topology.parent / "elsewhere", False).rehearsal


def test_no_local_engine_means_no_rehearsal(topology, monkeypatch):
    from pdcompose.errors import PdcomposeError

    def no_docker(*_a: object) -> None:
        raise PdcomposeError("no `docker` CLI on PATH")

    monkeypatch.setattr(locate, "run", no_docker)
    plan = common._bundle_plan(topology, None, False, None)
    assert locate.rehearsal_running(plan) is False


def test_status_never_credits_a_missing_container_with_what_answers_at_its_address(topology, monkeypatch):
    """The host's engine answered and has no such container: a 404 (or 200) at the address is someone
    else's, so the row says "-" for /health instead of contradicting "missing"."""
    from pdcompose.ops import status

    monkeypatch.setattr(status, "_states", lambda host: ({}, None) if host.name == "p" else (None, "p: no context"))
    monkeypatch.setattr(status, "_probes", lambda plan, hosts, access: status.Probed(
        {c.service: "404" for h in hosts for c in h.containers}, {}, {}))
    plan = common._bundle_plan(topology, None, True, None)
    rows = {r.host: r for r in status.collect(plan, plan.hosts).rows}
    assert (rows["p"].state, rows["p"].endpoint) == (None, "-")
    assert rows["d"].state_error and rows["d"].endpoint == "404"       # docker unreachable: the probe is news


@pytest.mark.parametrize("command", ["status", "logs", "down", "restart"])
def test_the_commands_that_reach_hosts_create_the_rehearsal_contexts_themselves(topology, monkeypatch, command):
    """deployed_plan reads; each day-2 command that talks to the hosts' engines (re)creates a rehearsal's
    contexts where it says so (ops_cmds._with_contexts), before it selects hosts."""
    from typer.testing import CliRunner

    from pdcompose.cli import app, ops_cmds
    from pdcompose.errors import PdcomposeError

    done: list[str] = []

    def hosts(plan, context):  # noqa: ANN001, ANN202
        raise PdcomposeError("stopped before touching a host")

    monkeypatch.setattr("pdcompose.engine.contexts.ensure_rehearsal_contexts",
                        lambda plan: done.append(plan.host("p").context) or [])
    monkeypatch.setattr(ops_cmds, "_hosts", hosts)
    result = CliRunner().invoke(app, [command, "--rehearsal"])
    assert result.exit_code == 1 and "stopped before touching a host" in result.output, result.output
    assert done == ["rehearsal-found-p"]
