"""engine and images: asked of the Docker Engine itself, no probe container needed."""

from __future__ import annotations

from dataclasses import dataclass

from pdcompose.doctor.model import CheckResult, failed, passed, warned
from pdcompose.doctor.needs import Needs
from pdcompose.engine.images import image_id
from pdcompose.engine.reach import EngineInfo
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Host

# Compose features that depend on the Engine version (what, minimum major). pdcompose emits none of them.
FEATURES = (("healthcheck start_interval", 25), ("CDI devices", 25))
DEVICE_REQUESTS_API = (1, 40)    # `--gpus` / deploy.resources.reservations.devices: Engine 19.03


def engine(host: Host, info: EngineInfo, n: Needs) -> CheckResult:
    api = tuple(int(p) for p in info.api_version.split(".") if p.isdigit())
    where = f"Engine {info.version}, API {info.api_version or '?'}, {info.os}/{info.arch}"
    if n.uses_gpus and api and api < DEVICE_REQUESTS_API:
        return failed(host.name, "engine", f"{where} cannot reserve GPUs (needs API 1.40, Engine 19.03+)",
                      f"upgrade Docker Engine on {host.name} to 20.10 or newer")
    missing = [name for name, major in FEATURES if info.major < major]
    if missing:
        note = f"before 25: no {', no '.join(missing)} (pdcompose emits neither)"
    else:
        note = f"has {', '.join(name for name, _ in FEATURES)} (pdcompose emits neither)"
    return passed(host.name, "engine", f"{where}; {note}")


@dataclass(frozen=True)
class ImageScan:
    result: CheckResult
    present: dict[str, str]        # reference -> ID, for the images this host has


def images(host: Host, n: Needs, timeout: float) -> ImageScan:
    present: dict[str, str] = {}
    problems, absent_pullable = [], []
    for ref in n.images:
        try:
            found = image_id(host.name, host.context, ref, timeout)
        except PdcomposeError as exc:
            return ImageScan(failed(host.name, "images", str(exc), f"check the Docker Engine on {host.name}"),
                             present)
        pinned = n.pinned.get(ref)
        if found is None:
            if ref in n.pull_never:
                problems.append(f"{ref} is missing (pull_policy never)")
            else:
                absent_pullable.append(ref)
            continue
        present[ref] = found
        if pinned and found != pinned:
            problems.append(f"{ref} is {short(found)} here, the images lock pins {short(pinned)}")
    if problems:
        return ImageScan(failed(host.name, "images", "; ".join(problems), (
            "run `pdcompose images push` (copies the images from this machine and re-pins the lock)")), present)
    if absent_pullable:
        return ImageScan(warned(host.name, "images", (
            f"{', '.join(absent_pullable)} absent: Compose will pull at deploy (an air-gapped host cannot)"),
            "`pdcompose images push` copies them without a registry"), present)
    pins = sum(ref in n.pinned for ref in present)
    lock = f"; {pins} match the images lock" if pins else ""
    return ImageScan(passed(host.name, "images", ", ".join(f"{r} {short(i)}" for r, i in present.items()) + lock),
                     present)


def short(image: str) -> str:
    return image.removeprefix("sha256:")[:12]
