"""The pure half of the weights checks: which hosts lack the revision, hold it in part, or would load another
commit than the rest; and what deploy does with that, with and without --allow-download."""

from __future__ import annotations

from pdcompose import topology
from pdcompose.deploy.weights import DownloadWatch, decide
from pdcompose.models.inventory import HostCache, Inventory
from pdcompose.models.judge import problems
from pdcompose.plan import build_plan
from pdcompose.progress import Silent
from tests.topologies import pd_topology

A, B = "a" * 40, "b" * 40


def _cache(host: str, commit: str | None, *, blobs: dict[str, int] | None = None, cache_id: str = "") -> HostCache:
    files = {"config.json": ["c1", 10], "model.safetensors": ["w1", 100]} if commit else {}
    return HostCache(host, f"/hf/{host}", cache_id=cache_id or host, free=1 << 30, commit=commit,
                     refs={"main": commit} if commit else {}, snapshots=[commit] if commit else [], files=files,
                     blobs={"c1": 10, "w1": 100} if blobs is None else blobs)


def _inv(*caches: HostCache) -> Inventory:
    return Inventory("org/m", "main", {c.host: c for c in caches})


def test_same_commit_everywhere_is_fine_and_shared_caches_count_once() -> None:
    inv = _inv(_cache("p", A, cache_id="x"), _cache("d1", A, cache_id="y"), _cache("d2", A, cache_id="y"))
    assert problems(inv) == []
    assert inv.groups() == {"x": ["p"], "y": ["d1", "d2"]} and inv.representatives() == ["p", "d1"]
    assert inv.shared_with("d2") == ["d1"] and inv.caches["p"].size == 110


def test_mismatch_names_every_host_and_commit_and_is_never_downloaded_away() -> None:
    found = problems(_inv(_cache("p", A), _cache("d", B)))
    assert {(p.host, p.kind) for p in found} == {("p", "mismatch"), ("d", "mismatch")}
    assert f"p {A}, d {B}" in found[0].detail and "model_revision" in found[0].fix
    blocking, downloading = decide(found, allow_download=True)
    assert blocking == found and downloading == []


def test_missing_and_incomplete_block_unless_download_is_allowed() -> None:
    found = problems(_inv(_cache("p", A), _cache("d", None), _cache("e", A, blobs={"c1": 10})))
    assert [(p.host, p.kind) for p in found] == [("d", "missing"), ("e", "incomplete")]
    assert "models pull" in found[0].fix and "models push" in found[0].fix and "--allow-download" in found[0].fix
    assert decide(found, allow_download=False) == (found, [])
    assert decide(found, allow_download=True) == ([], ["d", "e"])


def test_unreadable_cache_always_blocks() -> None:
    found = problems(_inv(_cache("p", A), HostCache("d", "/hf/d", error="no directory /hf/d on this host")))
    assert [(p.host, p.kind) for p in found] == [("d", "unreadable")]
    assert decide(found, allow_download=True)[0] == found


def test_download_watch_line_gives_bytes_and_rate() -> None:
    plan = build_plan(topology.from_text(pd_topology("h25-watch", first="127.0.125.10", model="org/m")))[0]
    watch = DownloadWatch(plan, [], Silent())
    assert watch.line("d", 0, 100.0) == "d: vLLM downloading org/m: 0 MB in its cache, 0.0 MB/s"
    assert watch.line("d", 50_000_000, 110.0) == "d: vLLM downloading org/m: 50 MB in its cache, 5.0 MB/s"
