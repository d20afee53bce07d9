"""images/build.sh's ARCH handling, without building anything: a bad value and a foreign architecture
this machine cannot emulate are refused before any Docker call; uname spellings are accepted."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

SCRIPT = REPO / "images" / "build.sh"
NATIVE = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())


def build(*targets: str, arch: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARCH"}
    if arch is not None:
        env["ARCH"] = arch
    # No docker on PATH: any Docker call would fail loudly instead of building.
    env["PATH"] = f"{Path('/nonexistent-pdcompose')}:/usr/bin:/bin"
    return subprocess.run([str(SCRIPT), *targets], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("value", ["sparc64", "x86", "arm"])
def test_unknown_arch_is_refused(value: str) -> None:
    done = build("router", arch=value)
    assert done.returncode == 2
    assert f"ARCH='{value}' is not an architecture pdcompose builds for" in done.stderr
    assert "arm64 (aarch64, GB200 hosts)" in done.stderr


@pytest.mark.skipif(NATIVE is None, reason=f"no rule for this machine's architecture ({platform.machine()})")
def test_foreign_arch_without_emulation_is_refused_with_where_to_build() -> None:
    other, uname = ("arm64", "aarch64") if NATIVE == "amd64" else ("amd64", "x86_64")
    if Path(f"/proc/sys/fs/binfmt_misc/qemu-{uname}").exists():
        pytest.skip(f"this machine can emulate {uname}: the script would build")
    for spelling in (other, uname):
        done = build("router", arch=spelling)
        assert done.returncode == 2, done.stderr
        assert f"cannot build {other} ({uname}) images on this {platform.machine()} machine" in done.stderr
        assert f"Build them on an {uname} machine instead" in done.stderr
        assert f"ARCH={other} images/build.sh router" in done.stderr and "qemu-user-static" in done.stderr
        assert "[images]" not in done.stdout          # refused before anything started


@pytest.mark.skipif(NATIVE is None, reason=f"no rule for this machine's architecture ({platform.machine()})")
@pytest.mark.parametrize("spelling", ["native-docker", "native-uname"])
def test_native_arch_in_either_spelling_is_accepted(spelling: str) -> None:
    value = NATIVE if spelling == "native-docker" else platform.machine()
    done = build("nonsense-target", arch=value)          # gets past ARCH, stops at the target check
    assert done.returncode == 2
    assert "usage: [ARCH=amd64|arm64] images/build.sh [all|base|mock|router|vllm]" in done.stderr
    assert "unknown target 'nonsense-target'" in done.stderr
