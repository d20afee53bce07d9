"""Topology: what the user writes, loaded with line numbers and validated in layers.

1. YAML syntax (source.py)        2. shape and types (models.py, pydantic)
3. references (resolve.py)        4. derived conflicts: ports, GPUs, flags (the planner)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pdcompose.errors import TopologyError
from pdcompose.topology.models import Topology
from pdcompose.topology.resolve import Resolved, resolve
from pdcompose.topology.schema_errors import issues_from
from pdcompose.topology.secrets import literal_issues, scrub_issue, secret_values
from pdcompose.topology.source import Source, load_yaml, parse_yaml

DEFAULT_FILE = "pdcompose.yaml"


def load(path: Path | str) -> Resolved:
    """The topology file, its presets and, when `<topology>.lock.json` exists, its pinned image IDs."""
    import dataclasses

    from pdcompose.topology.lock import read_lock

    path = Path(path)
    resolved = from_source(load_yaml(path, str(path)), path.resolve().parent)
    ids = read_lock(path)
    return dataclasses.replace(resolved, image_ids=ids) if ids else resolved


def from_text(text: str, name: str = "<text>", base_dir: Path | None = None) -> Resolved:
    return from_source(parse_yaml(text, name), base_dir or Path.cwd())


def from_source(source: Source, base_dir: Path) -> Resolved:
    # Whatever goes wrong, no message may repeat a value written where a secret belongs.
    hidden = secret_values(source.data)
    try:
        return _validated(source, base_dir)
    except TopologyError as exc:
        raise TopologyError([scrub_issue(i, hidden) for i in exc.issues + exc.warnings]) from None


def _validated(source: Source, base_dir: Path) -> Resolved:
    if not isinstance(source.data, dict):
        raise TopologyError([source.issue("not-a-mapping", (), (
            "the top level must be a mapping (name:, hosts:, prefill:, decode:, router:, ...)"))])
    issues = literal_issues(source)
    try:
        topology = Topology.model_validate(source.data)
    except ValidationError as exc:
        raise TopologyError(issues + issues_from(exc, source, Topology)) from None
    if issues:
        raise TopologyError(issues)
    return resolve(topology, source, base_dir)


__all__ = ["DEFAULT_FILE", "Resolved", "Topology", "from_source", "from_text", "load"]
