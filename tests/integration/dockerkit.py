"""Small helpers for tests that run pdcompose's images under Docker with host networking.

Every container gets its own 127.0.0.x address on the host network (Linux routes all of 127/8 to
`lo`, so nothing has to be configured), and carries the label `io.pdcompose.test=<suite>` so that a
crashed run's leftovers can be found and removed by label: there is no Ryuk reaper without a registry.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable

import docker
import httpx
from testcontainers.core.container import DockerContainer
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

TEST_LABEL = "io.pdcompose.test"


class HostNetContainer(DockerContainer):
    """Host network: there are no port mappings; the container port is the host port."""

    def __init__(self, image: str, *, host: str, labels: dict[str, str], **kwargs) -> None:
        super().__init__(image, network_mode="host", labels=labels, **kwargs)
        self.host = host

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """Remove the container; one that is already gone is fine."""
        with contextlib.suppress(docker.errors.NotFound):
            super().stop(force=force, delete_volume=delete_volume)

    def get_exposed_port(self, port: int | str) -> int:
        return int(port)

    def get_container_host_ip(self) -> str:
        return self.host

    @property
    def short_id(self) -> str:
        return self.get_container_id()[:12]

    def logs_text(self, tail: int = 200) -> str:
        return self.get_wrapped_container().logs(tail=tail).decode(errors="replace")


def remove_labelled(client: docker.DockerClient, *label_filters: str) -> list[str]:
    """Force-remove every container (running or not) matching all `key=value` label filters."""
    removed = []
    for c in client.containers.list(all=True, filters={"label": list(label_filters)}):
        c.remove(force=True, v=True)
        removed.append(c.name)
    return removed


def session_filter() -> str:
    """The label filter selecting this pytest process's testcontainers."""
    return f"{LABEL_SESSION_ID}={SESSION_ID}"


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0, client: httpx.Client | None = None) -> int | None:
    """The status of `GET url`, or None when nothing answers."""
    try:
        return (client or httpx).get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2) -> float:
    """Poll `check` until it is true; return the seconds it took, or raise TimeoutError naming `what`."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


def wait_healthy(urls: Iterable[str], timeout: float) -> float:
    """Wait until `GET <url>/health` answers 200 for every url."""
    pending = list(urls)

    def all_healthy() -> bool:
        pending[:] = [u for u in pending if http_status(f"{u}/health") != 200]
        return not pending

    try:
        return wait_until("workers healthy", all_healthy, timeout)
    except TimeoutError as e:
        raise TimeoutError(f"{e}; still unhealthy: {pending}") from None
