"""`images push` and `images status` against real engines: the local one (where every context of a
rehearsal already has everything) and a second daemon of the test's own (where loads really happen)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from pdcompose import defaults
from pdcompose.engine.contexts import remove_rehearsal_contexts
from pdcompose.errors import PdcomposeError
from pdcompose.images import inventory, push, update_lock
from pdcompose.progress import Silent
from pdcompose.topology.lock import read_lock
from tests.doctor.kit import contexts, ensure_images, local_endpoint, rehearsal_plan, with_contexts, write_topology
from tests.helpers import assert_no_hang, load_yaml, run_cli
from tests.images.conftest import one_file_image

pytestmark = pytest.mark.docker


class Recorder(Silent):
    """A reporter (pdcompose.progress.Reporter) that remembers the transfers it was told of."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.sent: dict[str, int] = {}
        self.finished: dict[str, str] = {}

    def step(self, text: str) -> None:
        self.steps.append(text)

    def start(self, key: str, label: str, total: int) -> None:
        self.sent[key] = 0

    def advance(self, key: str, size: int) -> None:
        self.sent[key] += size

    def finish(self, key: str, note: str) -> None:
        self.finished[key] = note


@pytest.fixture(scope="module")
def tiny_image() -> Iterator[str]:
    with one_file_image("tiny", "pdcompose images test") as tag:
        yield tag


def local_id(ref: str) -> str:
    return DockerClient().image.inspect(ref).id


def test_push_loads_only_where_missing_and_verifies(tmp_path: Path, tiny_image: str, second_engine: str) -> None:
    ensure_images()     # the router "host" gets the real base image (156 MB), the others the tiny one
    plan = rehearsal_plan(write_topology(tmp_path, mock_image=tiny_image, router_image=defaults.BASE_IMAGE))
    second = DockerClient(host=second_engine)
    with contexts({"second-a": second_engine, "local": local_endpoint(), "second-b": second_engine}) as ctx:
        plan = with_contexts(plan, {"p": ctx["second-a"], "d": ctx["local"], "r": ctx["second-b"]})
        t = time.monotonic()
        first = push(plan.hosts, Recorder())
        elapsed = time.monotonic() - t
        assert first.ok, first.failed
        assert first.loaded == {"p": [tiny_image], "r": [defaults.BASE_IMAGE]}
        assert first.skipped == {"d": [tiny_image]}
        for ref in (tiny_image, defaults.BASE_IMAGE):
            assert second.image.inspect(ref).id == local_id(ref) == first.ids[ref]
        print(f"first push into the second daemon: {elapsed:.1f} s ({first.sizes})")

        again = push(plan.hosts, Recorder())
        assert again.ok and again.loaded == {}
        assert again.skipped == {"p": [tiny_image], "d": [tiny_image], "r": [defaults.BASE_IMAGE]}

        second.image.remove(tiny_image, force=True)     # gone from one host: pushed again, gzip this time
        progress = Recorder()
        third = push(plan.hosts, progress, compress=True)
        assert third.loaded == {"p": [tiny_image]}
        assert progress.sent[f"p {tiny_image}"] == third.sizes[tiny_image]
        assert "ID verified" in progress.finished[f"p {tiny_image}"]
        assert second.image.inspect(tiny_image).id == local_id(tiny_image)

        inv = inventory(plan.hosts, {})
        assert all(row.id == inv.local[row.ref] for row in inv.rows)


def test_push_reports_unreachable_hosts_and_missing_local_images(tmp_path: Path, tiny_image: str) -> None:
    plan = rehearsal_plan(write_topology(tmp_path, mock_image=tiny_image, router_image=tiny_image))
    with contexts({"dead": "tcp://127.0.0.1:9", "local": local_endpoint()}) as ctx:
        plan = with_contexts(plan, {"p": ctx["dead"], "d": ctx["local"], "r": ctx["local"]})
        t = time.monotonic()
        report = push(plan.hosts, Recorder(), timeout=5)
        assert_no_hang(time.monotonic() - t, 30, "push waited on an unreachable host past its 5 s timeout")
        assert set(report.failed) == {"p"} and ctx["dead"] in report.failed["p"]
        assert report.skipped == {"d": [tiny_image], "r": [tiny_image]}

        absent = rehearsal_plan(write_topology(tmp_path, mock_image="pdcompose-test/absent:1", router_image=tiny_image))
        absent = with_contexts(absent, {h.name: ctx["local"] for h in absent.hosts})
        with pytest.raises(PdcomposeError, match=r"pdcompose-test/absent:1 not on this machine's Docker engine"):
            push(absent.hosts, Recorder())


def test_cli_push_pins_the_lock_and_rerenders(tmp_path: Path, tiny_image: str) -> None:
    path = write_topology(tmp_path, mock_image=tiny_image, router_image=tiny_image)
    plan = rehearsal_plan(path)
    try:
        done = run_cli("images", "push", path, "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["loaded"] == {} and sorted(answer["skipped"]) == ["d", "p", "r"]
        assert read_lock(path) == {tiny_image: local_id(tiny_image)}
        compose = load_yaml(tmp_path / "out-rehearsal" / "p" / "compose.yaml")
        service = next(iter(compose["services"].values()))
        assert service["pull_policy"] == "never"
        assert service["labels"]["io.pdcompose.image-id"] == local_id(tiny_image)

        status = run_cli("images", "status", path, "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        rows = json.loads(status.stdout)["images"]
        assert {r["host"] for r in rows} == {"p", "d", "r"}
        assert all(r["matches_local"] and r["matches_lock"] for r in rows)

        update_lock(path, {tiny_image: "sha256:" + "0" * 64})       # the lock now pins another image
        status = run_cli("images", "status", path, "--json", cwd=tmp_path)
        assert status.returncode == 1 and not any(r["matches_lock"] for r in json.loads(status.stdout)["images"])
    finally:
        remove_rehearsal_contexts(plan)
