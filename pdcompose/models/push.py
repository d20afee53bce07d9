"""`pdcompose models push`: copy the pinned revision from this machine's HF cache to the hosts, through their
Docker contexts, for clusters that cannot download (air-gapped).

Each host (one per shared cache) is asked what it holds; only the blobs it lacks are sent, a blob it holds
in part (`.incomplete`, from an interrupted push) from where it stopped. Before any byte moves, every
target's free space is compared with what it must receive, and the push is refused if one lacks room.
The bytes go down the stdin of a helper container (`docker run -i`, the cache mounted) as frames: a JSON
header (blob, size, offset, sha256), then the bytes; the agent appends, checks the size and the sha256 of
the whole file, and only then renames the blob into place, so a blob that is in place is whole. Snapshot
links and refs follow the blobs, so a snapshot never points at a blob that is not there."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pdcompose.engine import agent
from pdcompose.engine.fanout import each_or_error
from pdcompose.errors import PdcomposeError
from pdcompose.models.hfcache import Snapshot, repo_folder, snapshot
from pdcompose.models.inventory import HostCache, Inventory, inventory, revision, vllm_image
from pdcompose.models.sources import Want, host_snapshot, reader
from pdcompose.plan.models import Host, Plan
from pdcompose.progress import Reporter

AT_ONCE = 4          # hosts receiving at once: the copies share this machine's uplink
SPACE_MARGIN = 64 << 20   # left free on a host after the copy: a full disk breaks more than the copy


@dataclass
class PushReport:
    commit: str
    sent: dict[str, int] = field(default_factory=dict)          # host -> bytes sent
    resumed: dict[str, int] = field(default_factory=dict)       # host -> bytes not resent (partial blobs)
    skipped: dict[str, int] = field(default_factory=dict)       # host -> blobs already there
    shared: dict[str, str] = field(default_factory=dict)        # host -> the host that received for its cache
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


class NoRoom(PdcomposeError):
    """A host's cache cannot hold what it must receive: refused before any byte moves."""


def plan_blobs(snap: Snapshot, c: HostCache) -> tuple[list[Want], int]:
    """(the blobs the host must receive, how many it already holds whole)."""
    todo, held = [], 0
    for f in {f.blob: f for f in snap.files}.values():
        if c.blobs.get(f.blob) == f.size:
            held += 1
            continue
        part = c.partial.get(f.blob, 0)
        todo.append(Want(f, part if part <= f.size else 0))
    return todo, held


def check_room(todo: dict[str, list[Want]], inv: Inventory) -> None:
    short = []
    for name, blobs in todo.items():
        need, free = sum(b.to_send for b in blobs), inv.caches[name].free
        if need + SPACE_MARGIN > free:
            short.append(f"{name}: {inv.caches[name].cache} has {free / 1e6:.0f} MB free, needs {need / 1e6:.0f} MB "
                         f"(+{SPACE_MARGIN >> 20} MB margin)")
    if short:
        raise NoRoom("models push refused, nothing was copied: not enough space\n  " + "\n  ".join(short) +
                     "\n  fix: free space there (old snapshots under hub/), or point hf_cache at a bigger disk")


def push(plan: Plan, hosts: list[Host], source: Path, progress: Reporter, timeout: float = 30.0,
         at_once: int = AT_ONCE, from_host: Host | None = None) -> PushReport:
    """From this machine's hub cache `source`, or from the cache of `from_host` (its cache is not a target)."""
    t0 = time.monotonic()
    snap = host_snapshot(plan, from_host, timeout) if from_host else snapshot(source, plan.model, revision(plan))
    inv = inventory(plan, hosts, timeout)
    report = PushReport(commit=snap.commit)
    report.failed |= {n: c.error for n, c in inv.caches.items() if c.error}
    todo: dict[str, list[Want]] = {}
    mine = inv.caches.get(from_host.name) if from_host else None
    for names in inv.groups().values():
        first = names[0]
        if inv.caches[first].error or (mine and inv.caches[first].cache_id == mine.cache_id):
            continue
        report.shared |= {n: first for n in names[1:]}
        blobs, held = plan_blobs(snap, inv.caches[first])
        todo[first], report.skipped[first] = blobs, held
    check_room(todo, inv)
    by_name = {h.name: h for h in hosts}
    results = each_or_error(lambda n: _send(by_name[n], snap, todo[n], progress, from_host), list(todo),
                            limit=at_once)
    for name, result in zip(todo, results, strict=True):
        if isinstance(result, Exception):
            report.failed[name] = str(result).removeprefix(f"{name}: ")
        else:
            report.sent[name] = result
            report.resumed[name] = sum(b.offset for b in todo[name])
    report.seconds = time.monotonic() - t0
    return report


def _send(host: Host, snap: Snapshot, blobs: list[Want], progress: Reporter, from_host: Host | None) -> int:
    assert host.hf_cache
    key = host.name
    total = sum(b.to_send for b in blobs)
    progress.start(key, f"{host.name}: {snap.repo}@{snap.commit[:12]}", total)
    job = ["receive", host.hf_cache, snap.repo]
    with agent.Session(host, vllm_image(host), host.hf_cache, job) as session, \
            reader(from_host, snap.repo, blobs) as chunks:
        try:
            for b in blobs:
                _frame(session.stdin, {"kind": "blob", "blob": b.file.blob, "size": b.file.size, "offset": b.offset,
                                       "sha256": b.file.sha256})
                _stream(session.stdin, chunks(b), lambda n: progress.advance(key, n))
            for kind, path, target in _links(snap):
                _frame(session.stdin, {"kind": kind, "path": path, "target": target})
            _frame(session.stdin, {"kind": "end"})
            session.stdin.close()
        except BrokenPipeError:
            pass                      # the helper stopped early: its exit status and stderr say why
        answers = [json.loads(line) for line in session.lines() if line.startswith("{")]
        code = session.close()
        bad = [a for a in answers if a.get("ok") is False]
        if bad:
            expected = {b.file.blob: b.file.sha256 for b in blobs}
            raise PdcomposeError("; ".join(f"{a['blob']} arrived as sha256 {a['sha256'][:12]}, {a['size']} bytes, "
                                           f"expected {expected.get(a['blob'], '?')[:12]}: deleted there, push again"
                                           for a in bad))
        if code != 0 or not any(a.get("done") for a in answers):
            raise session.failure(f"receiving {snap.repo} on {host.name}")
    progress.finish(key, f"{len(blobs)} file(s), {total / 1e6:.1f} MB, size and sha256 checked" if blobs
                    else "every file already there; links and refs refreshed")
    return total


def _frame(stdin: IO[bytes], head: dict[str, object]) -> None:
    stdin.write(json.dumps(head).encode() + b"\n")


def _stream(stdin: IO[bytes], chunks: Iterator[bytes], advance: Callable[[int], None]) -> None:
    for chunk in chunks:
        stdin.write(chunk)
        advance(len(chunk))


def _links(snap: Snapshot) -> list[tuple[str, str, str]]:
    """The snapshot's entries (symlinks to blobs), then the refs naming its commit."""
    links = [("link", f"snapshots/{snap.commit}/{f.path}", f"blob:{f.blob}") for f in snap.files]
    return links + [("ref", f"refs/{ref}", commit) for ref, commit in sorted(snap.refs.items())]


__all__ = ["NoRoom", "PushReport", "push", "repo_folder"]
