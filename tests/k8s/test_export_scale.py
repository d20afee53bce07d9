"""Issue 24: the export is linear in the host count. The address scan searched every value for every
host's address (15 M searches at 512 hosts) and ruamel's pure emitter took ~10 ms per pod template;
both are checked here for the same result, and the whole export for a CPU budget a quadratic scan
cannot meet."""

from __future__ import annotations

import re
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.cli_speed import generated_topology
from pdcompose import topology
from pdcompose.export.k8s import export_files, make_options
from pdcompose.export.k8s.addresses import AddressFinder
from pdcompose.plan.builder import build_plan


def naive(addresses: list[str], value: str) -> list[str]:
    """The scan as it was: one search per address."""
    return [a for a in dict.fromkeys(addresses) if re.search(rf"(?<![\w.]){re.escape(a)}(?![\w.])", value)]


ADDRESS = st.one_of(
    st.builds("10.{}.{}.{}".format, *(st.integers(0, 12),) * 3),
    st.from_regex(r"[a-z][a-z0-9.-]{0,10}", fullmatch=True),
    st.text(alphabet="ab.-:[]_1", min_size=1, max_size=6),
)


@given(addresses=st.lists(ADDRESS, min_size=1, max_size=12), pieces=st.lists(st.text(max_size=6), max_size=6),
       picks=st.lists(st.integers(0, 11), max_size=5))
def test_the_finder_finds_what_one_search_per_address_found(addresses: list[str], pieces: list[str],
                                                            picks: list[int]) -> None:
    value = "".join(p + addresses[i % len(addresses)] for p, i in zip(pieces, picks, strict=False)) + "".join(pieces)
    assert AddressFinder(addresses).find(value) == naive(addresses, value)


def test_neighbouring_addresses_are_told_apart() -> None:
    finder = AddressFinder(["10.0.0.1", "10.0.0.10", "gb200-n1", "n1"])
    assert finder.find("http://10.0.0.10:8087") == ["10.0.0.10"]
    assert finder.find("10.0.0.1,10.0.0.10") == ["10.0.0.1", "10.0.0.10"]
    assert finder.find("gb200-n1") == ["gb200-n1", "n1"]      # as the per-address search found: n1 stands alone
    assert finder.find("10.0.0.100 x.10.0.0.1") == []


def test_exporting_512_hosts_takes_a_linear_time(tmp_path: Path) -> None:
    path = tmp_path / "gen.yaml"
    path.write_text(generated_topology(512))
    plan, _ = build_plan(topology.load(path), rehearsal=False)
    options = make_options(plan.cluster, "default", None, "hf-cache", None, "rdma/ib")
    start = time.process_time()
    _, written = export_files(plan, options)
    spent = time.process_time() - start
    # ~0.3 s of CPU on the development machine; the whole export process took 28 s of CPU before.
    assert spent < 3, f"exporting 512 hosts took {spent:.1f} s of CPU"
    assert written["leaderworkerset.yaml"].count(b"kind: LeaderWorkerSet") == 255
