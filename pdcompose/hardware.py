"""The hardware a host can be asked for, each named once: what a profile's `requires:` may list
(topology/presets.py, carried in the plan's Host.requires), the doctor check of the same name
(doctor/*.py), and the device paths behind the device-backed ones (the planner maps /dev/gdrdrv, the
Kubernetes export recognises InfiniBand and IMEX devices)."""

from __future__ import annotations

from typing import Literal, get_args

NVIDIA_RUNTIME = "nvidia-runtime"   # containers get GPUs through the NVIDIA Container Toolkit
INFINIBAND = "infiniband"
IMEX = "imex"                       # NVLink across nodes (GB200): the IMEX channels
GDRCOPY = "gdrcopy"                 # GPUDirect RDMA copies: the gdrdrv driver (per host, not per profile)

Requirement = Literal["nvidia-runtime", "infiniband", "imex"]     # what a profile's `requires:` may list
REQUIREMENTS: tuple[str, ...] = get_args(Requirement)

IB_DEVICES = "/dev/infiniband"
IMEX_DEVICES = "/dev/nvidia-caps-imex-channels"
GDRDRV = "/dev/gdrdrv"
DEVICE_PATHS = {INFINIBAND: IB_DEVICES, IMEX: IMEX_DEVICES, GDRCOPY: GDRDRV}
