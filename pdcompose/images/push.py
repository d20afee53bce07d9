"""`pdcompose images push`: give every host the images its containers use, without a registry.

The deployer's own engine is the source: each image's ID is read there; hosts that already hold that
ID are skipped; each image still needed is `docker save`d once into a temporary file and loaded into
every host that needs it, hosts in parallel; the ID is read back after loading. Before anything is
saved, an image built for another CPU architecture than its target host's engine is refused (a GB200
host is arm64: an amd64 image dies there with `exec format error`). The images lock is
then updated by the caller (update_lock), so the next render pins exactly these IDs.
"""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pdcompose import arch
from pdcompose.engine import images as engine_images
from pdcompose.engine.fanout import each, each_or_error
from pdcompose.errors import PdcomposeError
from pdcompose.images.inventory import Extra, Inventory, inventory
from pdcompose.plan.models import Host
from pdcompose.progress import Reporter
from pdcompose.topology.lock import read_lock, write_lock

LOADS_AT_ONCE = 8              # hosts loading (and asked their architecture) at once: the copies share our uplink


@dataclass
class PushReport:
    ids: dict[str, str]                                     # reference -> ID on the deployer's engine
    loaded: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)    # host -> why
    sizes: dict[str, int] = field(default_factory=dict)     # reference -> bytes of its (compressed) tar
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def push(hosts: list[Host], progress: Reporter, compress: bool = False, timeout: float = 10.0,
         extra: Extra | None = None) -> PushReport:
    """`extra`: images some hosts need beside their containers' (the load generator on the router's host)."""
    t0 = time.monotonic()
    inv = inventory(hosts, {}, timeout, extra)
    absent = sorted(ref for ref, image in inv.local.items() if image is None)
    if absent:
        raise PdcomposeError(f"{', '.join(absent)} not on this machine's Docker engine (the source of the copies): "
                             "build or pull it here first (pdcompose's own images are built by images/build.sh in "
                             "a checkout of its source; the installed package has no image recipes)")
    report = PushReport(ids={ref: image for ref, image in inv.local.items() if image})
    report.failed.update(inv.unreachable())
    todo = _todo(inv, report)
    if todo:
        check_arch(hosts, todo, timeout)         # before anything is saved or sent
        with tempfile.TemporaryDirectory(prefix="pdcompose-images-") as tmp:
            files = _save_all(sorted({ref for refs in todo.values() for ref in refs}), Path(tmp), compress, progress)
            report.sizes = {ref: path.stat().st_size for ref, path in files.items()}
            by_name = {h.name: h for h in hosts}
            loads = each_or_error(lambda name: _load_host(by_name[name], todo[name], files, report.ids, progress,
                                                          timeout), list(todo), limit=LOADS_AT_ONCE)
            for name, error in zip(todo, loads, strict=True):
                if error is None:
                    report.loaded[name] = todo[name]
                else:
                    report.failed[name] = str(error).removeprefix(f"{name}: ")
    report.seconds = time.monotonic() - t0
    return report


def _todo(inv: Inventory, report: PushReport) -> dict[str, list[str]]:
    """Host name -> the references it must receive; the others are recorded as skipped."""
    todo: dict[str, list[str]] = {}
    for row in inv.rows:
        if row.error is None:
            (todo if inv.needs_copy(row) else report.skipped).setdefault(row.host, []).append(row.ref)
    return todo


class ArchMismatch(PdcomposeError):
    """An image would be copied to a host whose CPU cannot run it (`exec format error` at start)."""


def check_arch(hosts: list[Host], todo: dict[str, list[str]], timeout: float) -> None:
    """Refuse when an image to copy was built for another architecture than its target host's engine.

    The image's is `docker image inspect` .Architecture on this machine; the host's is its engine's
    `docker info` Architecture (the plan's, from the profile, when the engine does not say)."""
    by_name = {h.name: h for h in hosts}
    images = {ref: engine_images.local_image_arch(ref) for ref in sorted({r for refs in todo.values() for r in refs})}
    machines = dict(zip(todo, each(lambda name: host_arch(by_name[name], timeout), list(todo), limit=LOADS_AT_ONCE),
                        strict=True))
    problems = []
    for name, refs in todo.items():
        host, there = by_name[name], arch.normalize(machines[name])
        for ref in refs:
            built = arch.normalize(images[ref])
            if built and there and built != there:
                problems.append(f"{ref} is built for {arch.describe(built)}, but host {name} (Docker context "
                                f"'{host.context}') runs {arch.describe(there)}: it would fail there with "
                                f"'exec format error'. Fix: {arch.build_fix(ref, there)}")
    if problems:
        raise ArchMismatch("images push refused, nothing was copied:\n  " + "\n  ".join(problems))


def host_arch(host: Host, timeout: float) -> str | None:
    """The host engine's architecture (Docker's name); the plan's expectation when the engine cannot say."""
    try:
        found = arch.normalize(engine_images.engine_arch(host.name, host.context, timeout))
    except PdcomposeError:
        found = None
    return found or host.arch


def _save_all(refs: list[str], folder: Path, compress: bool, progress: Reporter) -> dict[str, Path]:
    files = {}
    for ref in refs:
        t = time.monotonic()
        progress.step(f"saving {ref} from this machine's engine{' (gzip)' if compress else ''}")
        files[ref] = engine_images.save(ref, folder, compress)
        size = files[ref].stat().st_size
        progress.step(f"saved {ref}: {size / 1e6:.0f} MB in {time.monotonic() - t:.1f} s")
    return files


def _load_host(host: Host, refs: list[str], files: dict[str, Path], ids: dict[str, str], progress: Reporter,
               timeout: float) -> None:
    for ref in refs:
        key = f"{host.name} {ref}"
        progress.start(key, f"{host.name}: {ref}", files[ref].stat().st_size)
        t = time.monotonic()
        engine_images.load(host.name, host.context, files[ref], functools.partial(progress.advance, key))
        found = engine_images.image_id(host.name, host.context, ref, timeout)
        if found != ids[ref]:
            raise PdcomposeError(f"{host.name}: after loading, {ref} is {found or 'absent'}, not {ids[ref]}: "
                                 f"check the engine behind context '{host.context}' and push again")
        progress.finish(key, f"loaded in {time.monotonic() - t:.1f} s, ID verified")


def update_lock(topology: Path, ids: dict[str, str]) -> Path:
    """Merge the pushed IDs into the images lock (other references it pins are kept)."""
    return write_lock(topology, {**read_lock(topology), **ids})
