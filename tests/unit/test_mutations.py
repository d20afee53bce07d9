"""Property: any mutation of the example topology ends in a clean validation error (with its field
and, when the field is in the file, its line) or in a bundle that `docker compose config` accepts.
Never a traceback. CI runs 2,000 mutations (PDCOMPOSE_MUTATIONS overrides the count).

Two halves: the pure one (a clean error or a rendered bundle) needs no Docker and runs everywhere;
the other hands every bundle to `docker compose config` (marked docker)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pdcompose import topology
from pdcompose.errors import TopologyError
from pdcompose.plan import build_plan
from pdcompose.render import render_files
from tests.figures import LINES
from tests.helpers import EXAMPLE

EXAMPLES = int(os.environ.get("PDCOMPOSE_MUTATIONS", "2000"))
BASE = YAML(typ="safe", pure=True).load(EXAMPLE.read_text())
HOSTILE = ["", " ", "a b", "it's", 'say "hi"', "$HOME", "${X:?boom}", "$$", "a\nb", "../../etc", "-", "--port",
           "{}", "[]", "null", "~", "ünï", "🚀", "\t", "x" * 300, "gb200-n0", "10.0.0.10", "0", "-1",
           "127.0.0.1", "localhost", "GPU-1234abcd", "round_robin", "8087", "true"]
SCALARS = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12), st.integers(-2, 70000),
                    st.sampled_from([2**63, -(2**63), 10**30]), st.floats(allow_nan=False, allow_infinity=False),
                    st.booleans(), st.none())
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(HOSTILE), SCALARS,
                                                                           max_size=2))
KEYS = st.one_of(st.sampled_from(["nodes", "gpus", "address", "args", "env", "tp", "dp_local", "port", "host",
                                  "policy", "profile", "context", "image", "from_env", "instances", "rpc_port",
                                  "nixl_port", "interface", "rehearsal", "enabled"]), st.sampled_from(HOSTILE))
stats: Counter[str] = Counter()
checked_files: dict[str, str | None] = {}


def mutate(data: st.DataObject, doc: Any) -> Any:
    """Walk to a random node of the document and change it."""
    if not isinstance(doc, dict | list) or not doc or data.draw(st.integers(0, 3)) == 0:
        return data.draw(VALUES)
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = data.draw(st.sampled_from(keys))
    action = data.draw(st.sampled_from(["descend", "descend", "descend", "delete", "insert", "rename"]))
    out = dict(doc) if isinstance(doc, dict) else list(doc)
    if action == "descend":
        out[key] = mutate(data, doc[key])
    elif action == "delete":
        del out[key]
    elif action == "insert":
        if isinstance(out, dict):
            out[data.draw(KEYS)] = data.draw(VALUES)
        else:
            out.insert(key, data.draw(VALUES))
    elif isinstance(out, dict):
        out[data.draw(KEYS)] = out.pop(key)
    return out


def compose_config(paths: list[Path]) -> str | None:
    argv = ["docker", "compose", *(x for p in paths for x in ("-f", str(p))), "config", "-q"]
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "HF_TOKEN": "x"}, timeout=60)
    return None if result.returncode == 0 else result.stderr.strip()[-500:]


def compose_accepts(files: dict[str, bytes]) -> str | None:
    """One `docker compose -f ... -f ... config` for a whole bundle: Compose validates every file
    against its schema on its own before merging them, and service names are unique across hosts, so
    this judges each file as a separate call would (re-checked file by file to name a culprit)."""
    digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()
    if digest not in checked_files:
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for name, content in sorted(files.items()):
                path = Path(tmp) / name
                path.parent.mkdir(parents=True)
                path.write_bytes(content)
                paths.append(path)
            error = compose_config(paths)
            if error:
                error = next((f"{p.parent.name}: {e}" for p in paths if (e := compose_config([p]))), error)
            checked_files[digest] = error
    return checked_files[digest]


FLAG = st.text("abcdefghijklmnopqrstuvwxyz-_.", min_size=1, max_size=12).map(lambda s: f"x{s}")
ENV_NAME = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=12).map(lambda s: f"X_{s}")


def hostile_settings(data: st.DataObject, doc: dict) -> dict:
    """Valid shape, hostile content: extra args and env at some level, so bundles reach Compose."""
    out = dict(doc)
    where = data.draw(st.sampled_from(["top", "prefill", "decode", "router"]))
    target = dict(out) if where == "top" else dict(out[where]) if isinstance(out[where], dict) else \
        {"instances": out[where]}
    target["args"] = {**target.get("args", {}), data.draw(FLAG): data.draw(SCALARS)}
    target["env"] = {**target.get("env", {}), data.draw(ENV_NAME): data.draw(st.sampled_from(HOSTILE) | st.text())}
    if where == "top":
        return target
    out[where] = target
    return out


def mutated_bundle(data: st.DataObject, counts: Counter[str]) -> dict[str, bytes] | None:
    """Draw a mutated topology: None after checking it fails cleanly, else its rendered bundle (which
    rendering must produce without a traceback)."""
    doc = BASE
    if data.draw(st.booleans()):
        doc = hostile_settings(data, doc)
    for _ in range(data.draw(st.integers(0 if doc is not BASE else 1, 3))):
        doc = mutate(data, doc)
    stream = StringIO()
    YAML(typ="safe", pure=True).dump(doc, stream)
    counts["tried"] += 1
    try:
        plan, _ = build_plan(topology.from_text(stream.getvalue(), "t.yaml", EXAMPLE.parent))
    except TopologyError as exc:
        counts["clean errors"] += 1
        assert exc.issues, "a TopologyError without issues"
        for issue in exc.issues:
            assert issue.message and issue.file == "t.yaml"
            assert issue.line is not None or issue.code in {"empty", "not-a-mapping", "missing", "missing-model",
                                                             "missing-image", "yaml-syntax", "yaml-too-large"} \
                or issue.path.startswith("recipe"), issue.format()
        return None
    counts["valid bundles"] += 1
    files = {name: content for name, content in render_files(plan).items() if name.endswith("compose.yaml")}
    counts["compose files"] += len(files)
    return files


pure_stats: Counter[str] = Counter()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_mutation_is_a_clean_error_or_renders(data: st.DataObject):
    """The pure half: no Docker needed."""
    mutated_bundle(data, pure_stats)


@pytest.mark.docker
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_mutation_is_a_clean_error_or_a_valid_bundle(data: st.DataObject):
    files = mutated_bundle(data, stats)
    if files is not None:
        error = compose_accepts(files)
        assert error is None, f"docker compose config: {error}"


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest):
    yield
    if pure_stats and request.session.testsfailed == 0:
        LINES.append(f"[mutations, no Docker] {pure_stats['tried']} mutated topologies: "
                     f"{pure_stats['clean errors']} clean validation errors, {pure_stats['valid bundles']} rendered "
                     "bundles; 0 tracebacks")
    if stats and request.session.testsfailed == 0:
        LINES.append(
            f"[mutations] {stats['tried']} mutated topologies: {stats['clean errors']} clean validation errors, "
            f"{stats['valid bundles']} valid bundles ({stats['compose files']} compose files in "
            f"{len(checked_files)} distinct bundles, all accepted by docker compose config); 0 tracebacks")
