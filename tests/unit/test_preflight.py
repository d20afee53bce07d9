"""Preflight checks read and report; what they imply (a rehearsal's placeholder secrets) happens where
deploy says so. Docker is never reached: deploy stops (or is stopped) before its first Docker call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pdcompose import topology
from pdcompose.deploy import run as deploy_run
from pdcompose.deploy.model import DeployOptions
from pdcompose.deploy.preflight import REHEARSAL_PLACEHOLDER, missing_secrets
from pdcompose.errors import PdcomposeError
from pdcompose.plan import build_plan
from tests.helpers import EXAMPLE, Steps


class Reached(Exception):
    """Raised by a fake at deploy's first Docker call: everything before it has run."""


def unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # setenv first, so monkeypatch restores "absent" even if the code under test sets it
    monkeypatch.setenv(name, "x")
    monkeypatch.delenv(name)


def example_plan(rehearsal: bool):  # noqa: ANN201
    return build_plan(topology.load(EXAMPLE), rehearsal=rehearsal)[0]


def test_missing_secrets_reads_the_environment_and_changes_nothing(monkeypatch):
    plan = example_plan(rehearsal=True)
    unset(monkeypatch, "HF_TOKEN")
    before = dict(os.environ)
    assert missing_secrets(plan.hosts) == ["HF_TOKEN"]
    assert dict(os.environ) == before
    monkeypatch.setenv("HF_TOKEN", "hf_set")
    assert missing_secrets(plan.hosts) == []


def test_real_hosts_with_an_unset_secret_stop_deploy_before_any_docker_call(monkeypatch):
    plan = example_plan(rehearsal=False)
    unset(monkeypatch, "HF_TOKEN")
    monkeypatch.setattr(deploy_run, "require_fast_checks", lambda *a: pytest.fail("reached the doctor"))
    with pytest.raises(PdcomposeError, match=r"^HF_TOKEN is not set: the topology reads secrets"):
        deploy_run.deploy(plan, Path("unused"), DeployOptions(), Steps())
    assert "HF_TOKEN" not in os.environ


def test_a_rehearsal_gets_placeholders_from_deploy_and_says_so(monkeypatch):
    plan = example_plan(rehearsal=True)
    unset(monkeypatch, "HF_TOKEN")

    def contexts(_plan: object) -> list[str]:
        raise Reached

    monkeypatch.setattr(deploy_run, "ensure_rehearsal_contexts", contexts)
    steps = Steps()
    with pytest.raises(Reached):
        deploy_run.deploy(plan, Path("unused"), DeployOptions(), steps)
    assert os.environ["HF_TOKEN"] == REHEARSAL_PLACEHOLDER
    assert steps.lines == ["rehearsal: HF_TOKEN unset; the mocks get a placeholder"]
