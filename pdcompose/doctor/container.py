"""Run doctor's probe (probe.py) in a short-lived container on a host, under a timeout.

The image is one the plan already put on that host (all of them carry python3), started with
`--pull never` so a missing image fails at once instead of waiting on a registry. Each container has
a name and the label io.pdcompose.doctor, so one abandoned by a timeout is removed by name.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from pdcompose.doctor import probe
from pdcompose.engine import cli

LABEL = "io.pdcompose.doctor"
DEV_ROOT = "/host/dev"
PATH_ROOT = "/pdcompose-probe"

# host mode: the host's network (bind its addresses and ports) and pids (who holds a port). SYS_PTRACE
# and no AppArmor/SELinux confinement let it read other processes' fd links; --userns host because
# --pid host is refused under userns-remap. Read-only /dev is for device nodes (stat only).
HOST_FLAGS = ["--network", "host", "--pid", "host", "--userns", "host", "--cap-add", "SYS_PTRACE",
              "--security-opt", "apparmor=unconfined", "--security-opt", "label=disable",
              "--mount", f"type=bind,source=/dev,target={DEV_ROOT},readonly"]
# gpus mode: what the NVIDIA runtime gives a container; `utility` makes it inject nvidia-smi.
GPU_FLAGS = ["--network", "none", "--gpus", "all", "-e", "NVIDIA_DRIVER_CAPABILITIES=utility"]


class ProbeFailed(Exception):
    """The probe container did not run; the message is Docker's last error line."""


@cache
def _source() -> str:
    return Path(probe.__file__).read_text()


def mount_flag(source: str, target: str) -> list[str]:
    """--mount takes CSV: quote a path that holds a comma or a quote."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(["type=bind", f"source={source}", f"target={target}", "readonly"])
    return ["--mount", out.getvalue()]


def run(host: str, context: str, image: str, mode: str, args: dict[str, Any], flags: list[str],
        timeout: float) -> dict[str, Any]:
    name = f"pdcompose-doctor-{uuid.uuid4().hex[:12]}"
    argv = ["run", "--rm", "--name", name, "--label", f"{LABEL}={mode}", "--pull", "never", "--user", "0:0",
            "--entrypoint", "python3", *flags, image, "-c", _source(), mode, json.dumps(args)]
    try:
        result = cli.run(host, context, argv, timeout)
    except cli.DockerTimeout:
        _remove(host, context, name)
        raise
    if not result.ok:
        raise ProbeFailed(result.last_error())
    lines = result.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        raise ProbeFailed(f"the probe printed no result (image {image}): {result.last_error()}") from None


def host_probe(host: str, context: str, image: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    return run(host, context, image, "host", {**args, "dev_root": DEV_ROOT}, HOST_FLAGS, timeout)


def gpu_probe(host: str, context: str, image: str, timeout: float) -> dict[str, Any]:
    return run(host, context, image, "gpus", {}, GPU_FLAGS, timeout)


def path_probe(host: str, context: str, image: str, path: str, model_dir: str, timeout: float) -> dict[str, Any]:
    """{"exists": False} when the path is missing: Docker refuses a bind mount of a missing source."""
    flags = ["--network", "none", *mount_flag(path, PATH_ROOT)]
    try:
        found = run(host, context, image, "path", {"root": PATH_ROOT, "model_dir": model_dir}, flags, timeout)
    except ProbeFailed as exc:
        if "bind source path does not exist" in str(exc):
            return {"exists": False}
        raise
    return {"exists": True, **found}


def _remove(host: str, context: str, name: str) -> None:
    with contextlib.suppress(cli.DockerTimeout):
        cli.run(host, context, ["rm", "--force", name], timeout=10)
