"""doctor's arch check without Docker: what the engine and the images say, fed in."""

from __future__ import annotations

import pytest

from pdcompose import topology
from pdcompose.doctor import arch_checks
from pdcompose.doctor.needs import needs
from pdcompose.errors import DockerOperationError
from pdcompose.plan import build_plan
from pdcompose.plan.models import Host
from tests.helpers import EXAMPLE


def gb200_router() -> Host:
    plan, _ = build_plan(topology.load(EXAMPLE))
    return plan.host("gb200-n6")


def run(monkeypatch: pytest.MonkeyPatch, host: Host, engine: str | Exception, images: dict[str, str | None],
        present: tuple[str, ...] = ()):
    def engine_arch(name: str, context: str | None, timeout: float) -> str:
        if isinstance(engine, Exception):
            raise engine
        return engine

    monkeypatch.setattr(arch_checks, "engine_arch", engine_arch)
    monkeypatch.setattr(arch_checks, "image_arch", lambda name, context, ref, timeout: images.get(ref))
    return arch_checks.arch_check(host, {ref: "sha256:x" for ref in present}, needs(host), 1.0)


def test_gb200_host_with_an_amd64_router_image_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    host = gb200_router()
    ref = host.containers[0].image
    result = run(monkeypatch, host, "aarch64", {ref: "amd64"}, present=(ref,))
    assert result.failed and result.detail == (f"host is arm64 (aarch64), but {ref} here is built for amd64 (x86_64) "
                                               "(it would fail with 'exec format error')")
    assert "ARCH=arm64 images/build.sh router" in result.fix


def test_gb200_host_with_arm64_images_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    host = gb200_router()
    ref = host.containers[0].image
    result = run(monkeypatch, host, "aarch64", {ref: "arm64"})
    assert result.status == "pass" and result.detail == f"arm64 (aarch64), as profile gb200 says; {ref} match"


def test_profile_contradicted_by_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(monkeypatch, gb200_router(), "x86_64", {})
    assert result.failed and result.detail == "host is amd64 (x86_64), but profile gb200 says arm64 (aarch64)"
    assert "docker --context gb200-n6 info" in result.fix


def test_unknown_or_unreadable_engine_arch(monkeypatch: pytest.MonkeyPatch) -> None:
    odd = run(monkeypatch, gb200_router(), "sparc64", {})
    assert odd.status == "warn" and "unknown architecture (sparc64)" in odd.detail
    broken = run(monkeypatch, gb200_router(), DockerOperationError("gb200-n6", "`docker info` failed: boom"), {})
    assert broken.failed and broken.detail == "`docker info` failed: boom"


def test_image_absent_everywhere_is_not_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(monkeypatch, gb200_router(), "aarch64", {})
    assert result.status == "pass" and result.detail == "arm64 (aarch64), as profile gb200 says"
