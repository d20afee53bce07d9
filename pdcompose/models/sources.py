"""Where `models push` reads the bytes: this machine's HF cache, or one host's (`--from-host`), whose
helper container sends the blobs each target lacks down its stdout, from the offsets the target resumes at."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pdcompose.engine import agent
from pdcompose.errors import PdcomposeError
from pdcompose.models.hfcache import SHA256, Snapshot, SourceFile
from pdcompose.models.inventory import inventory, revision, vllm_image
from pdcompose.plan.models import Host, Plan

CHUNK = 1 << 20


@dataclass(frozen=True)
class Want:
    file: SourceFile
    offset: int               # bytes the target already holds (.incomplete): resumed from there

    @property
    def to_send(self) -> int:
        return self.file.size - self.offset


Chunks = Callable[[Want], Iterator[bytes]]


def host_snapshot(plan: Plan, host: Host, timeout: float) -> Snapshot:
    """The revision's snapshot as one host holds it (complete, or refused), each file with its sha256."""
    c = inventory(plan, [host], timeout).caches[host.name]
    if c.error or not c.complete or c.commit is None:
        raise PdcomposeError(f"--from-host {host.name}: {plan.model} {revision(plan)} is not complete in its cache "
                             f"{c.cache}{': ' + c.error if c.error else ''} (`pdcompose models status`)")
    assert host.hf_cache
    answer = agent.ask(host, vllm_image(host), host.hf_cache, ["digest", host.hf_cache, plan.model, c.commit], timeout)
    digests = json.loads(answer.strip().splitlines()[-1])
    files = [SourceFile(path, blob, size, blob if SHA256.fullmatch(blob) else digests[blob], None)
             for path, (blob, size) in sorted(c.files.items())]
    return Snapshot(plan.model, c.commit, {r: m for r, m in c.refs.items() if m == c.commit}, files)


@contextlib.contextmanager
def reader(source: Host | None, repo: str, wants: list[Want]) -> Iterator[Chunks]:
    if source is None:
        yield _local
        return
    assert source.hf_cache
    with agent.Session(source, vllm_image(source), source.hf_cache, ["send", source.hf_cache, repo]) as session:
        session.stdin.write(json.dumps([[w.file.blob, w.offset] for w in wants]).encode() + b"\n")
        session.stdin.close()

        def remote(want: Want) -> Iterator[bytes]:
            left = want.to_send
            while left:
                chunk = session.stdout.read(min(CHUNK, left))
                if not chunk:
                    session.proc.wait()
                    raise session.failure(f"reading {want.file.path} from {source.name}'s cache")
                left -= len(chunk)
                yield chunk

        yield remote


def _local(want: Want) -> Iterator[bytes]:
    assert want.file.local is not None
    with want.file.local.open("rb") as f:
        f.seek(want.offset)
        while chunk := f.read(CHUNK):
            yield chunk
