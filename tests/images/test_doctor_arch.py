"""doctor's arch check against real engines: it reports the host's architecture, fails an image on the
host (or the one `images push` would copy) built for another one, and fails a profile the engine
contradicts. Here because it needs the second engine of tests/images/conftest.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pdcompose import arch
from pdcompose.doctor import FAST, run_doctor
from pdcompose.plan.models import Plan
from tests.doctor.kit import contexts, local_endpoint, rehearsal_plan, with_contexts, write_topology
from tests.helpers import run_cli
from tests.images.archkit import foreign_image, local_engine_arch
from tests.images.conftest import one_file_image

pytestmark = pytest.mark.docker
CHECKS = ("engine", "arch", "images")      # no probe containers: the test images have no python3


@pytest.fixture
def native_image() -> Iterator[str]:
    with one_file_image("native", "pdcompose doctor arch test") as tag:
        yield tag


def arch_of(plan: Plan, host: str, checks: tuple[str, ...] = CHECKS):
    return next(r for r in run_doctor(plan, [plan.host(host)], 10.0, checks) if r.check == "arch")


def test_doctor_reports_the_arch_and_fails_a_foreign_image(tmp_path: Path, native_image: str) -> None:
    here = local_engine_arch()
    with foreign_image(tmp_path) as (foreign, other), contexts({"local": local_endpoint()}) as ctx:
        plan = rehearsal_plan(write_topology(tmp_path, mock_image=foreign, router_image=native_image))
        plan = with_contexts(plan, {h.name: ctx["local"] for h in plan.hosts})
        router = arch_of(plan, "r")
        assert router.status == "pass" and router.detail == f"{arch.describe(here)}; {native_image} match"
        prefill = arch_of(plan, "p", FAST)       # deploy's preflight runs it too
        assert prefill.failed
        assert prefill.detail == (f"host is {arch.describe(here)}, but {foreign} here is built for "
                                  f"{arch.describe(other)} (it would fail with 'exec format error')")
        assert f"docker pull --platform linux/{here} {foreign}" in prefill.fix

        # The profile says the other architecture; the engine (this machine) contradicts it.
        gb = plan.model_copy(update={"hosts": [h.model_copy(update={"arch": other, "profile": "gb200"})
                                               for h in plan.hosts]})
        router = arch_of(gb, "r")
        assert router.failed and f"host is {arch.describe(here)}, but profile gb200 says {arch.describe(other)}" \
            in router.detail
        assert f"docker --context {ctx['local']} info" in router.fix and "profile for" in router.fix
        same = plan.model_copy(update={"hosts": [h.model_copy(update={"arch": here, "profile": "mine"})
                                                 for h in plan.hosts]})
        assert arch_of(same, "r").detail == f"{arch.describe(here)}, as profile mine says; {native_image} match"


def test_doctor_checks_the_image_push_would_copy(tmp_path: Path, native_image: str, second_engine: str) -> None:
    """The second engine has none of the images: the local ones, which a push would copy, are compared."""
    here = local_engine_arch()
    with foreign_image(tmp_path) as (foreign, other), contexts({"second": second_engine}) as ctx:
        plan = rehearsal_plan(write_topology(tmp_path, mock_image=foreign, router_image=native_image))
        plan = with_contexts(plan, {h.name: ctx["second"] for h in plan.hosts})
        decode = arch_of(plan, "d")
        assert decode.failed and f"{foreign} on this machine, which `images push` copies, is built for " \
                                 f"{arch.describe(other)}" in decode.detail
        assert f"host is {arch.describe(here)}" in decode.detail
        assert arch_of(plan, "r").status == "pass"


def test_doctor_cli_shows_the_arch(tmp_path: Path, native_image: str) -> None:
    """The check is in doctor's JSON (and table) output; the rest of doctor runs as usual around it."""
    path = write_topology(tmp_path, mock_image=native_image, router_image=native_image)
    plan = rehearsal_plan(path)
    try:
        done = run_cli("doctor", path, "--json", "--timeout", "5", cwd=tmp_path)
        checks = [c for c in json.loads(done.stdout)["checks"] if c["check"] == "arch"]
        assert [c["host"] for c in checks] == ["p", "d", "r"], done.stdout + done.stderr
        assert all(c["status"] == "pass" and c["detail"].startswith(arch.describe(local_engine_arch()))
                   for c in checks)
        table = run_cli("doctor", path, "--timeout", "5", cwd=tmp_path)
        assert "arch" in table.stdout and arch.describe(local_engine_arch()) in " ".join(table.stdout.split())
    finally:
        from pdcompose.engine.contexts import remove_rehearsal_contexts

        remove_rehearsal_contexts(plan)
