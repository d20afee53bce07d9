"""Before anything starts: every host that runs vLLM holds the model's revision, the same commit everywhere.

A host that lacks it would download it at its first start (every host at once, up to the deploy timeout,
with no sign of progress; impossible when air-gapped), and hosts holding different commits would hand KV
cache between two different models. So deploy refuses, with the fix, unless told to let vLLM download
(`--allow-download`): then the hosts' caches are watched while the gate waits, and the bytes arriving are
reported. A mismatch is refused even then: downloading does not make an unpinned revision agree."""

from __future__ import annotations

import threading
import time

from pdcompose.doctor.weights import applies
from pdcompose.errors import PdcomposeError
from pdcompose.models.inventory import inventory, model_hosts, rehearsed
from pdcompose.models.judge import Problem, problems
from pdcompose.plan.models import Host, Plan
from pdcompose.progress import Reporter

WATCH_EVERY = 10.0       # seconds between two looks at the downloading hosts' caches


class WeightsMissing(PdcomposeError):
    """The model's revision is missing on some hosts, or differs between them: nothing was started."""


def require_weights(plan: Plan, hosts: list[Host], allow_download: bool, timeout: float,
                    report: Reporter) -> list[str]:
    """Raise WeightsMissing as described above; return the hosts vLLM will download on (allow_download)."""
    targets = model_hosts(plan, hosts)
    if not targets or not applies(plan):
        return []
    inv, left = rehearsed(plan, inventory(plan, targets, timeout))
    if left:
        report.step(f"weights: rehearsal: not checked on {', '.join(left)} (no HF cache directory here; a "
                    "rehearsal mounts none)")
    blocking, downloading = decide(problems(inv), allow_download)
    if blocking:
        raise WeightsMissing(_message(blocking))
    if downloading:
        report.step(f"weights: vLLM will download {inv.repo}@{inv.revision} on {', '.join(downloading)} "
                    "(--allow-download); progress below")
    else:
        report.step(f"weights: {inv.repo}@{inv.revision} in every host's cache "
                    f"({len(inv.groups())} distinct cache(s))")
    return downloading


def decide(found: list[Problem], allow_download: bool) -> tuple[list[Problem], list[str]]:
    """(what refuses the deploy, the hosts vLLM will download on). Pure."""
    fetchable = ("missing", "incomplete")
    blocking = [p for p in found if p.kind not in fetchable or not allow_download]
    downloading = sorted({p.host for p in found if p.kind in fetchable}) if not blocking else []
    return blocking, downloading


def _message(blocking: list[Problem]) -> str:
    lines = sorted({p.detail if p.kind == "mismatch" else f"{p.host}: {p.detail}" for p in blocking})
    fixes = sorted({p.fix for p in blocking})
    return ("deploy refused, nothing was started: the model's weights are not ready\n  " + "\n  ".join(lines)
            + "\n  fix: " + "\n  fix: ".join(fixes))


class DownloadWatch:
    """While the gate waits: every WATCH_EVERY s, the bytes in each downloading host's cache of the model."""

    def __init__(self, plan: Plan, hosts: list[Host], report: Reporter, every: float = WATCH_EVERY) -> None:
        self.plan, self.hosts, self.report, self.every = plan, hosts, report, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pdcompose-download-watch")
        self._last: dict[str, tuple[float, int]] = {}

    def __enter__(self) -> DownloadWatch:
        if self.hosts:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                inv = inventory(self.plan, self.hosts, self.every)
            except PdcomposeError:
                continue
            for name, c in inv.caches.items():
                if c.error is None:
                    self.report.step(self.line(name, sum(c.blobs.values()) + sum(c.partial.values()),
                                               time.monotonic()))

    def line(self, host: str, on_disk: int, now: float) -> str:
        then, before = self._last.get(host, (now, on_disk))
        self._last[host] = (now, on_disk)
        rate = (on_disk - before) / (now - then) if now > then else 0.0
        return (f"{host}: vLLM downloading {self.plan.model}: {on_disk / 1e6:,.0f} MB in its cache, "
                f"{rate / 1e6:.1f} MB/s")
