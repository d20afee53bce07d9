"""What an e2e scenario must leave behind once it is down: nothing of its cluster."""

from __future__ import annotations

import subprocess


def leftovers(cluster: str) -> dict[str, list[str]]:
    """The cluster's containers, networks and rehearsal contexts still on the local engine."""
    def lines(*argv: str) -> list[str]:
        return [x for x in subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.split() if x]
    return {"containers": lines("docker", "ps", "-aq", "--filter", f"label=io.pdcompose.cluster={cluster}"),
            "networks": [n for n in lines("docker", "network", "ls", "--format", "{{.Name}}") if n.startswith(cluster)],
            "contexts": [c for c in lines("docker", "context", "ls", "--format", "{{.Name}}")
                         if c.startswith(f"rehearsal-{cluster}-")]}
