"""Helpers for doctor and images tests: small rehearsal topologies on a loopback block of their own,
Docker contexts that are always removed, and containers found again by label.

Each test cluster gets its own name and its own 127.77.<n>.x block, so tests never meet each other's
(or another developer's) rehearsals on the guide's default 127.0.0.x addresses.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from python_on_whales import DockerClient, DockerException

from pdcompose import defaults, topology
from pdcompose.plan import build_plan
from pdcompose.plan.models import Plan
from tests.topologies import pd_topology

TEST_LABEL = "io.pdcompose.test"
SUITE = "doctor"

def unique_name(prefix: str = "dt") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def write_topology(folder: Path, mock_image: str | None = None, router_image: str | None = None) -> Path:
    """A 3-host rehearsal topology (p: prefill, d: decode, r: router) in a fresh loopback block."""
    images = "".join(f", {k}: {v}" for k, v in (("mock_image", mock_image), ("router_image", router_image)) if v)
    first = f"127.77.{random.randint(1, 250)}.10"
    path = folder / "pdcompose.yaml"
    # TEST-NET-2 addresses: the real hosts of a topology no test may reach, in a rehearsal never used
    path.write_text(pd_topology(unique_name(), first=first, model="org/model", image="vllm/vllm-openai:v0.13.0",
                                network="198.51.100", rehearsal=f"load_delay: 0.2{images}",
                                extra="health: {deploy_timeout: 120}\n"))
    return path


def rehearsal_plan(path: Path) -> Plan:
    plan, _ = build_plan(topology.load(path), rehearsal=True)
    return plan


def with_contexts(plan: Plan, contexts: dict[str, str]) -> Plan:
    """The same plan with some hosts reached through other contexts ({host: context})."""
    hosts = [h.model_copy(update={"context": contexts.get(h.name, h.context)}) for h in plan.hosts]
    return plan.model_copy(update={"hosts": hosts})


@contextlib.contextmanager
def contexts(endpoints: dict[str, str]) -> Iterator[dict[str, str]]:
    """Create Docker contexts {label: endpoint} under unique names; yield {label: name}; always remove them."""
    docker, made = DockerClient(), {}
    try:
        for label, endpoint in endpoints.items():
            name = f"pdtest-{uuid.uuid4().hex[:8]}-{label}"
            docker.context.create(name, description="pdcompose test", docker={"host": endpoint})
            made[label] = name
        yield made
    finally:
        if made:
            with contextlib.suppress(DockerException):
                docker.context.remove(list(made.values()), force=True)


def local_endpoint() -> str:
    from pdcompose.engine.contexts import local_endpoint as endpoint

    return endpoint()


def ensure_images() -> None:
    """The mock and router images, built by images/build.sh only when missing (a build takes minutes)."""
    missing = [i for i in (defaults.BASE_IMAGE, defaults.MOCK_VLLM_IMAGE, defaults.ROUTER_IMAGE)
               if subprocess.run(["docker", "image", "inspect", i], capture_output=True).returncode != 0]
    if missing:
        root = Path(__file__).resolve().parents[2]
        subprocess.run([str(root / "images" / "build.sh"), "mock", "router"], cwd=root, check=True, timeout=1800)


def remove_labelled(value: str) -> list[str]:
    docker = DockerClient()
    found = docker.container.list(all=True, filters=[("label", f"{TEST_LABEL}={value}")])
    if found:
        docker.container.remove(found, force=True, volumes=True)
    return [c.name for c in found]
