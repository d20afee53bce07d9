"""nvidia-runtime, gpus, infiniband, imex, gdrcopy, devices and hf-cache: what the host's hardware and disks
offer."""

from __future__ import annotations

from typing import Any

from pdcompose.doctor.model import CheckResult, failed, passed, skipped, warned
from pdcompose.doctor.needs import Needs
from pdcompose.hardware import GDRCOPY, GDRDRV, IB_DEVICES, IMEX, IMEX_DEVICES, INFINIBAND, NVIDIA_RUNTIME
from pdcompose.plan.models import Host

TOOLKIT_FIX = ("install the NVIDIA Container Toolkit, run `nvidia-ctk runtime configure --runtime=docker` and "
               "restart dockerd (it registers the nvidia driver only if nvidia-container-runtime-hook is on "
               "its PATH when it starts)")
DEVICE_FIXES = {
    INFINIBAND: "install rdma-core (or MLNX_OFED) and load ib_uverbs/mlx5_ib so /dev/infiniband exists, or use "
                  "a profile without InfiniBand",
    IMEX: "run nvidia-imex with /etc/nvidia-imex/nodes_config.cfg listing the NVLink domain's nodes, and create "
            "channel0 (driver option NVreg_CreateImexChannel0=1, or mknod with the major from /proc/devices)",
    GDRCOPY: "install gdrcopy's gdrdrv kernel module on the host (NVIDIA's gdrcopy packages, then "
               "`modprobe gdrdrv`) so /dev/gdrdrv exists, or set gdrcopy: false for this host",
    "devices": "create the device on the host or remove it from the profile's devices",
}


def gpu_checks(host: Host, n: Needs, found: dict[str, Any] | None, error: str | None) -> list[CheckResult]:
    """From one `--gpus all` container: does the runtime work (nvidia-runtime), are the ids there (gpus)."""
    if not n.uses_gpus:
        why = ("the profile lists it, but no container on this host reserves GPUs" if NVIDIA_RUNTIME in n.hardware
               else "no container on this host reserves GPUs")
        return [skipped(host.name, NVIDIA_RUNTIME, why), skipped(host.name, "gpus", why)]
    if error is not None or found is None:
        driver = "could not select device driver" in (error or "")
        fix = TOOLKIT_FIX if driver else f"check the NVIDIA driver and toolkit on {host.name}"
        return [failed(host.name, NVIDIA_RUNTIME, f"a container cannot get GPUs: {error}", fix),
                skipped(host.name, "gpus", "needs a working NVIDIA runtime")]
    gpus = found.get("gpus", [])
    runtime = passed(host.name, NVIDIA_RUNTIME, f"`--gpus all` works ({len(gpus)} GPUs, via {found.get('source')})")
    known = {g["index"] for g in gpus} | {g["uuid"] for g in gpus if g.get("uuid")}
    have = ", ".join(g["index"] for g in gpus) or "none"
    missing = [g for g in n.gpus if g not in known]
    if missing:
        return [runtime, failed(host.name, "gpus", f"GPU {', '.join(missing)} not on the host (it has {have})",
                                f"set hosts.{host.name}.gpus (or the node's gpus) to GPUs it has")]
    unused = len(gpus) - len(n.gpus)
    if unused > 0:
        return [runtime, warned(host.name, "gpus", f"uses {', '.join(n.gpus)} of {len(gpus)} ({have}); "
                                                   f"{unused} idle", "list them in hosts.<name>.gpus to use them")]
    return [runtime, passed(host.name, "gpus", f"{len(gpus)} GPUs: {have}, as the topology says")]


def runs_vllm(host: Host) -> bool:
    return any(c.role in ("prefill", "decode") for c in host.containers)   # not the router, not Prometheus


def probed_devices(host: Host, n: Needs) -> list[str]:
    """The devices the host probe stats: those the containers map, and /dev/gdrdrv on a vLLM host, so
    doctor can say when a host has gdrcopy that the topology does not pass."""
    return sorted({*n.devices, GDRDRV}) if runs_vllm(host) else n.devices


def device_checks(host: Host, n: Needs, found: dict[str, Any]) -> list[CheckResult]:
    groups = {INFINIBAND: [d for d in n.devices if d.startswith(IB_DEVICES)],
              IMEX: [d for d in n.devices if d.startswith(IMEX_DEVICES)],
              GDRCOPY: [d for d in n.devices if d == GDRDRV],
              "devices": [d for d in n.devices if not d.startswith((IB_DEVICES, IMEX_DEVICES)) and d != GDRDRV]}
    out = []
    for check, paths in groups.items():
        if check == GDRCOPY and not paths:
            out.append(_unused_gdrcopy(host, found))
            continue
        if not paths:
            listed = check in n.hardware
            out.append(skipped(host.name, check, "the profile lists it, but no container on this host maps it"
                               if listed else "not used on this host"))
            continue
        answers = {p: found.get("devices", {}).get(p, {}) for p in paths}
        bad = [f"{p} is missing" for p, a in answers.items() if not a.get("exists")]
        bad += [f"{p} has no devices in it" for p, a in answers.items()
                if a.get("exists") and a.get("dir") and not a.get("entries")]
        if bad:
            out.append(failed(host.name, check, "; ".join(bad) + " (compose up would fail)", DEVICE_FIXES[check]))
        else:
            shown = [p + (f" ({', '.join(a['entries'][:6])})" if a.get("entries") else "") for p, a in answers.items()]
            out.append(passed(host.name, check, "present: " + "; ".join(shown)))
    return out


def _unused_gdrcopy(host: Host, found: dict[str, Any]) -> CheckResult:
    """The topology does not pass /dev/gdrdrv: worth saying when the host has it."""
    if not runs_vllm(host):
        return skipped(host.name, GDRCOPY, "not used on this host")
    if found.get("devices", {}).get(GDRDRV, {}).get("exists"):
        return warned(host.name, GDRCOPY, f"the host has {GDRDRV} but its vLLM containers do not get it "
                                            "(GPUDirect RDMA copies for NVSHMEM/UCX go unused)",
                      f"set gdrcopy: true on hosts.{host.name} (or in defaults) to pass it to them")
    return skipped(host.name, GDRCOPY, f"not used on this host (and it has no {GDRDRV})")


def path_checks(host: Host, n: Needs, found: dict[str, dict[str, Any] | str], model: str) -> CheckResult:
    """found: path -> the path probe's answer, or the error text when the probe could not run."""
    if not n.paths:
        return skipped(host.name, "hf-cache", "no host directory is mounted on this host")
    problems, notes = [], []
    for path, what in n.paths.items():
        answer = found.get(path)
        if isinstance(answer, str):
            problems.append(f"{path} ({what}) could not be checked: {answer}")
        elif not answer or not answer.get("exists"):
            problems.append(f"{path} ({what}) does not exist on the host")
        elif not answer.get("dir"):
            problems.append(f"{path} ({what}) is not a directory")
        elif what == "the HF cache" and answer.get("model_cached") is False:
            notes.append(f"{path} exists but has no {model}: vLLM would download it at its first start, every "
                         "host at once (the `weights` check says which revision each host holds)")
    if problems:
        return failed(host.name, "hf-cache", "; ".join(problems), (
            f"create it on {host.name} (mkdir -p), mount the shared cache there, or change hf_cache"))
    if notes:
        return warned(host.name, "hf-cache", "; ".join(notes), "pdcompose models pull (or models push, "
                                                                "air-gapped) before deploying")
    return passed(host.name, "hf-cache", ", ".join(f"{p} exists" for p in n.paths)
                  + (f" and holds {model}" if n.model_dir else ""))
