"""doctor against the local engine: dead contexts fail in seconds, a taken port is named with its holder,
a fresh rehearsal passes (its own ports are fine), hardware a host lacks is reported with the fix."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient, DockerException

from pdcompose import defaults
from pdcompose.deploy.run import DeployOptions, deploy
from pdcompose.doctor import run_doctor
from pdcompose.engine.clients import project_client
from pdcompose.engine.contexts import ensure_rehearsal_contexts, remove_rehearsal_contexts
from pdcompose.errors import PdcomposeError
from pdcompose.hardware import GDRDRV, IB_DEVICES, IMEX_DEVICES
from pdcompose.plan.models import Plan
from pdcompose.render import render
from tests.doctor.kit import (
    SUITE,
    TEST_LABEL,
    contexts,
    ensure_images,
    rehearsal_plan,
    remove_labelled,
    with_contexts,
    write_topology,
)
from tests.helpers import Steps, assert_no_hang, run_cli

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", autouse=True)
def _images_and_reaper() -> Iterator[None]:
    ensure_images()
    remove_labelled(SUITE)          # left by a killed run
    yield
    remove_labelled(SUITE)


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[tuple[Path, Plan]]:
    """A 3-host rehearsal (p, d, r) of its own; whatever it started, and its contexts, are removed."""
    path = write_topology(tmp_path)
    plan = rehearsal_plan(path)
    ensure_rehearsal_contexts(plan)
    try:
        yield path, plan
    finally:
        for host in plan.hosts:
            with contextlib.suppress(DockerException):
                project_client(host).compose.down(remove_orphans=True, timeout=5, quiet=True)
        remove_rehearsal_contexts(plan)


def by_check(results: list, host: str) -> dict:
    return {r.check: r for r in results if r.host == host}


def test_unreachable_contexts_fail_at_the_timeout_not_after_a_hang(rehearsal: tuple[Path, Plan]) -> None:
    _, plan = rehearsal
    silent = socket.socket()                 # accepts connections (kernel backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        with contexts({"refused": "tcp://127.0.0.1:9", "silent": f"tcp://127.0.0.1:{silent.getsockname()[1]}",
                       "nosock": "unix:///nonexistent.sock"}) as ctx:
            dead = with_contexts(plan, {"p": ctx["refused"], "r": ctx["silent"]})
            t = time.monotonic()
            results = run_doctor(dead, dead.hosts, timeout=3)
            elapsed = time.monotonic() - t
            nosock = with_contexts(plan, {"p": ctx["nosock"]})
            t = time.monotonic()
            nosock_results = run_doctor(nosock, [nosock.host("p")], timeout=3)
            nosock_elapsed = time.monotonic() - t
    finally:
        silent.close()
    print(f"doctor with a refused and a silent context: {elapsed:.1f} s; missing socket: {nosock_elapsed:.1f} s")
    # The details below prove the 3 s timeout fired; the bounds are about the hang only (the silent socket
    # would hold the CLI for as long as it stays open). How close to the timeout is `make bench`'s figure.
    assert_no_hang(elapsed, 30, "doctor waited on a context that never answers")
    assert_no_hang(nosock_elapsed, 30, "doctor waited on a context whose socket is missing")
    p, r, d = by_check(results, "p"), by_check(results, "r"), by_check(results, "d")
    assert p["engine"].failed and "127.0.0.1:9" in p["engine"].detail and "docker --context" in p["engine"].fix
    assert r["engine"].failed and "did not answer within 3 s" in r["engine"].detail
    for host in (p, r):
        assert all(res.status == "skip" and "unreachable" in res.detail for c, res in host.items() if c != "engine")
    assert not any(res.failed for res in d.values())          # the reachable host is checked as usual
    engine = by_check(nosock_results, "p")["engine"]
    assert engine.failed and "nonexistent.sock" in engine.detail


@contextlib.contextmanager
def squatter(address: str, port: int) -> Iterator[str]:
    """A host-network container listening on address:port, as another service on the host would."""
    name = f"squatter-{uuid.uuid4().hex[:8]}"
    code = ("import socket, time; s = socket.socket(); "
            f"s.bind(({address!r}, {port})); s.listen(); print('listening', flush=True); time.sleep(600)")
    docker = DockerClient()
    docker.run(defaults.BASE_IMAGE, ["python3", "-c", code], name=name, detach=True, remove=True,
               networks=["host"], labels={TEST_LABEL: SUITE})
    try:
        deadline = time.monotonic() + 20
        while "listening" not in docker.container.logs(name):
            assert time.monotonic() < deadline, f"{name} did not start listening"
            time.sleep(0.1)
        yield name
    finally:
        with contextlib.suppress(DockerException):
            docker.container.remove(name, force=True)


def test_taken_ports_name_the_container_and_the_process(rehearsal: tuple[Path, Plan], tmp_path: Path) -> None:
    _, plan = rehearsal
    p = plan.host("p")
    api = next(u.port for u in p.containers[0].ports if u.purpose == "API")
    side = next(u.port for u in p.containers[0].ports if u.purpose == "NIXL side channel")
    mine = socket.socket()
    mine.bind((p.address, side))
    mine.listen(1)
    d = plan.host("d")
    bridged = f"bridged-{uuid.uuid4().hex[:8]}"       # a bridge-network container publishing d's API port
    DockerClient().run(defaults.BASE_IMAGE, ["sleep", "120"], name=bridged, detach=True, remove=True,
                       publish=[(f"{d.address}:{api}", 80)], labels={TEST_LABEL: SUITE})
    try:
        with squatter(p.address, api) as name:
            results = run_doctor(plan, plan.hosts)
            published = by_check(results, "d")["ports"]
            assert published.failed and f"is taken by container '{bridged}'" in published.detail
            ports = by_check(results, "p")["ports"]
            assert ports.failed
            assert f"{api} (API of prefill-0-node-0, on {p.address}) is taken by container '{name}'" in ports.detail
            assert f"{side} (NIXL side channel" in ports.detail and f"pid {os.getpid()}" in ports.detail
            assert f"docker --context {p.context} stop {name}" in ports.fix and "prefill.port" in ports.fix

            bundle = tmp_path / "out"
            render(plan, bundle)
            with pytest.raises(PdcomposeError, match="doctor found problems, nothing was started") as info:
                deploy(plan, bundle, DeployOptions(smoke=False), Steps())
            assert f"p: ports: {api}" in str(info.value) and name in str(info.value)
            assert all(not project_client(h).compose.ps(all=True) for h in plan.hosts)   # nothing started
    finally:
        mine.close()
        with contextlib.suppress(DockerException):
            DockerClient().container.remove(bridged, force=True)


def test_fresh_rehearsal_passes_and_redeploys(rehearsal: tuple[Path, Plan], tmp_path: Path) -> None:
    path, plan = rehearsal
    bundle = tmp_path / "out"
    render(plan, bundle)
    deploy(plan, bundle, DeployOptions(smoke=False), Steps())
    t = time.monotonic()
    done = run_cli("doctor", path, "--json", cwd=tmp_path)
    elapsed = time.monotonic() - t
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "ok" and answer["summary"]["fail"] == 0
    ports = [c for c in answer["checks"] if c["check"] == "ports"]
    assert len(ports) == 3 and all("held by this deployment's own containers" in c["detail"] for c in ports)
    print(f"doctor CLI on a deployed 3-host rehearsal: {elapsed:.1f} s")
    again = deploy(plan, bundle, DeployOptions(smoke=False), Steps())          # the fast doctor passes too
    assert sum(len(v) for v in again.unchanged.values()) == 3


def test_hardware_a_host_lacks_is_reported_with_the_fix(rehearsal: tuple[Path, Plan], tmp_path: Path) -> None:
    """The rehearsal's host p, as a real GB200 node would be checked: GPUs, IB, IMEX, HF cache, address."""
    _, plan = rehearsal
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    p = plan.host("p")
    gb200 = p.containers[0].model_copy(update={
        "gpu_driver": "nvidia", "gpus": ["0"], "env": {**p.containers[0].env, "HF_HOME": str(cache)},
        "devices": [f"{IB_DEVICES}:{IB_DEVICES}", f"{IMEX_DEVICES}/channel0:{IMEX_DEVICES}/channel0",
                    f"{GDRDRV}:{GDRDRV}"],
        "volumes": [f"{cache}:{cache}", "/nonexistent-pdcompose-dir:/data"]})
    node = p.model_copy(update={"containers": [gb200], "requires": ["nvidia-runtime", "infiniband", "imex"]})
    real = plan.model_copy(update={"rehearsal": False, "hosts": [node if h.name == "p" else h for h in plan.hosts]})
    checks = by_check(run_doctor(real, [node]), "p")
    assert checks["address"].failed and "is loopback: other hosts cannot reach it" in checks["address"].detail
    assert checks["nvidia-runtime"].failed and "could not select device driver" in checks["nvidia-runtime"].detail
    assert "nvidia-ctk runtime configure" in checks["nvidia-runtime"].fix
    assert checks["gpus"].status == "skip"
    assert checks["infiniband"].failed and f"{IB_DEVICES} is missing" in checks["infiniband"].detail
    assert checks["imex"].failed and "nvidia-imex" in checks["imex"].fix
    assert checks["gdrcopy"].failed and f"{GDRDRV} is missing" in checks["gdrcopy"].detail   # gdrcopy: true, no driver
    assert checks["hf-cache"].failed and "/nonexistent-pdcompose-dir (a volume of prefill-0-node-0) does not " \
                                         "exist" in checks["hf-cache"].detail
    assert str(cache) not in checks["hf-cache"].detail                          # the cache itself exists
