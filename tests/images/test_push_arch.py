"""`images push` refuses an image built for another CPU architecture than its target host, before it
copies anything (a GB200 host is arm64; the router image built on an x86_64 machine is amd64)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient, DockerException

from pdcompose import arch
from pdcompose.images import push
from pdcompose.images.push import ArchMismatch
from pdcompose.topology.lock import read_lock
from tests.doctor.kit import contexts, rehearsal_plan, unique_name, with_contexts, write_topology
from tests.helpers import run_cli
from tests.images.archkit import foreign_image, local_engine_arch
from tests.images.conftest import one_file_image
from tests.images.test_push import Recorder

pytestmark = pytest.mark.docker


@pytest.fixture
def native_image() -> Iterator[str]:
    with one_file_image("native", "pdcompose arch test") as tag:
        yield tag


def test_push_refuses_a_foreign_image_before_copying_anything(tmp_path: Path, native_image: str,
                                                               second_engine: str) -> None:
    second = DockerClient(host=second_engine)
    here = local_engine_arch()
    with foreign_image(tmp_path) as (foreign, other):
        plan = rehearsal_plan(write_topology(tmp_path, mock_image=foreign, router_image=native_image))
        with contexts({"second": second_engine}) as ctx:
            plan = with_contexts(plan, {h.name: ctx["second"] for h in plan.hosts})
            progress = Recorder()
            with pytest.raises(ArchMismatch) as caught:
                push(plan.hosts, progress)
            message = str(caught.value)
            assert "nothing was copied" in message
            for host in ("p", "d"):       # the mock image goes to the prefill and decode hosts
                assert f"{foreign} is built for {arch.describe(other)}, but host {host}" in message
                assert f"runs {arch.describe(here)}" in message
            assert "host r" not in message           # the router's image matches its host
            assert f"docker pull --platform linux/{here} {foreign}" in message
            assert ctx["second"] in message
            assert progress.steps == [] and progress.sent == {}     # nothing was saved, nothing sent
            assert not second.image.exists(foreign) and not second.image.exists(native_image)


def test_push_accepts_a_native_image(tmp_path: Path, native_image: str, second_engine: str) -> None:
    plan = rehearsal_plan(write_topology(tmp_path, mock_image=native_image, router_image=native_image))
    with contexts({"second": second_engine}) as ctx:
        plan = with_contexts(plan, {h.name: ctx["second"] for h in plan.hosts})
        report = push(plan.hosts, Recorder())
        assert report.ok and sorted(report.loaded) == ["d", "p", "r"]
        assert DockerClient(host=second_engine).image.inspect(native_image).architecture == local_engine_arch()
    with contextlib.suppress(DockerException):
        DockerClient(host=second_engine).image.remove(native_image, force=True)


REAL = """\
name: {name}
image: {vllm}
model: org/model
args:
  kv-transfer-config: {{kv_connector: NixlConnector, kv_role: kv_both, kv_load_failure_policy: fail}}
defaults: {{profile: {profile}}}
hosts:
  p: {{address: 198.51.100.1, gpus: [0], context: {ctx}}}
  d: {{address: 198.51.100.2, gpus: [0], context: {ctx}}}
  r: {{address: 198.51.100.3, gpus: [], context: {ctx}}}
prefill: [{{nodes: [p]}}]
decode: [{{nodes: [d]}}]
router: {{host: r, image: {router}}}
"""


def test_cli_push_names_image_host_both_archs_and_the_fix(tmp_path: Path, native_image: str,
                                                          second_engine: str) -> None:
    """A real (non-rehearsal) topology on a profile whose arch is the foreign one's: the engine decides."""
    second = DockerClient(host=second_engine)
    with foreign_image(tmp_path) as (foreign, other), contexts({"second": second_engine}) as ctx:
        profile = tmp_path / "profile.yaml"
        profile.write_text(f"description: test hosts\narch: {'aarch64' if other == 'arm64' else 'x86_64'}\n")
        path = tmp_path / "pdcompose.yaml"
        path.write_text(REAL.format(name=unique_name("arch"), vllm=foreign, router=native_image,
                                    profile="./profile.yaml", ctx=ctx["second"]))
        done = run_cli("images", "push", path, cwd=tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        err = " ".join(done.stderr.split())
        assert "error: images push refused, nothing was copied" in err
        assert f"{foreign} is built for {other}" in err and "host p" in err and "host d" in err
        assert local_engine_arch() in err and "exec format error" in err
        assert f"docker pull --platform linux/{local_engine_arch()}" in err
        assert "Traceback" not in done.stderr
        assert read_lock(path) == {}
        assert not second.image.exists(foreign) and not second.image.exists(native_image)
