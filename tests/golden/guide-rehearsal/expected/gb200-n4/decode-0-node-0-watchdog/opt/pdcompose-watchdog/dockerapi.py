"""The few Docker Engine API calls the group watchdog needs, over the host's Docker socket, stdlib only.

Stdlib only because this file runs inside the engine's own image (it is delivered as a Compose config, like
Prometheus's files), where neither pdcompose nor the docker CLI is installed. Unversioned API paths: the
daemon answers them with its own version, and these calls have not changed since API 1.24."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any


class DockerError(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Docker:
    def __init__(self, socket_path: str = "/var/run/docker.sock") -> None:
        self.socket_path = socket_path

    def _call(self, method: str, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        conn = _UnixConnection(self.socket_path, timeout)
        try:
            conn.request(method, path)
            answer = conn.getresponse()
            return answer.status, answer.read()
        except OSError as exc:
            raise DockerError(f"{method} {path}: {exc}") from None
        finally:
            conn.close()

    def find(self, project: str, service: str) -> str | None:
        """The id of a Compose service's container in a project, or None."""
        filters = json.dumps({"label": [f"com.docker.compose.project={project}",
                                        f"com.docker.compose.service={service}"]})
        status, body = self._call("GET", f"/containers/json?all=1&filters={urllib.parse.quote(filters)}")
        if status != 200:
            raise DockerError(f"listing containers: HTTP {status}: {body[:200]!r}")
        found = json.loads(body)
        return found[0]["Id"] if found else None

    def state(self, cid: str) -> dict[str, Any] | None:
        """Docker's State of the container (Status, ExitCode, StartedAt...), None once it is gone."""
        status, body = self._call("GET", f"/containers/{cid}/json")
        if status == 404:
            return None
        if status != 200:
            raise DockerError(f"inspecting {cid[:12]}: HTTP {status}")
        state: dict[str, Any] = json.loads(body)["State"]
        return state

    def stop(self, cid: str, grace: int) -> None:
        status, body = self._call("POST", f"/containers/{cid}/stop?t={grace}", timeout=grace + 30)
        if status not in (204, 304, 404):
            raise DockerError(f"stopping {cid[:12]}: HTTP {status}: {body[:200]!r}")

    def start(self, cid: str) -> None:
        status, body = self._call("POST", f"/containers/{cid}/start", timeout=60)
        if status not in (204, 304):
            raise DockerError(f"starting {cid[:12]}: HTTP {status}: {body[:200]!r}")

    def logs(self, cid: str, lines: int) -> list[str]:
        status, body = self._call("GET", f"/containers/{cid}/logs?stdout=1&stderr=1&tail={lines}")
        if status != 200:
            return []
        return demux(body).decode(errors="replace").splitlines()[-lines:]


def demux(raw: bytes) -> bytes:
    """The log stream of a container without a TTY: frames of [stream, 0, 0, 0, size (4 bytes BE)] + data."""
    out, i = bytearray(), 0
    while i + 8 <= len(raw) and raw[i] in (0, 1, 2) and raw[i + 1:i + 4] == b"\0\0\0":
        size = int.from_bytes(raw[i + 4:i + 8], "big")
        out += raw[i + 8:i + 8 + size]
        i += 8 + size
    return bytes(out) if i else raw          # a TTY container's logs are not framed
