"""Each container's definition hash: what `apply` compares with the label of the container that runs.

Taken from the plan's service (what the Compose file says about that container), never from the
rendered text or a timestamp: re-rendering the same topology with another pdcompose version, another
output folder or on another day gives the same hash, and any change to what would run (argv, env,
image, ports, volumes, the Compose configs it gets, the platform) gives another one.
"""

from __future__ import annotations

import hashlib
import json

from pdcompose.plan.models import Container, Host

LABEL = "io.pdcompose.definition"


def definition_hash(host: Host, c: Container) -> str:
    data = {
        "container": c.model_dump(mode="json", exclude={"labels"}),
        "labels": {k: v for k, v in c.labels.items() if k != LABEL},
        "platform": host.platform,
        "configs": [cfg.model_dump(mode="json") for cfg in host.configs if cfg.service == c.service],
        "secrets": [s.model_dump(mode="json") for s in host.secrets if s.name in c.secrets],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def definitions(host: Host) -> dict[str, str]:
    """service -> definition hash, for one host's containers."""
    return {c.service: definition_hash(host, c) for c in host.containers}
