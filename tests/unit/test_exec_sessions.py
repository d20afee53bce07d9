"""engine/sessions: a long-lived `docker exec -i` answers round after round on one process, and a session whose
container went away gives way (None) so the caller takes the one-shot path. Real Docker, real container."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid

import pytest

from pdcompose.engine import sessions
from pdcompose.engine.inside import LOOP, Request, parse
from tests.helpers import REPO

pytestmark = pytest.mark.docker
IMAGE = "pdcompose/base:bookworm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payload(url: str) -> str:
    return json.dumps([{"url": url, "method": "GET", "json": None, "timeout": 3}])


def test_a_session_answers_every_round_on_one_exec_and_gives_way_when_its_container_goes():
    subprocess.run([str(REPO / "images" / "build.sh"), "base"],
                   check=True, capture_output=True, timeout=1800)
    name, port = f"pdc-session-{uuid.uuid4().hex[:8]}", _free_port()
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--network", "host", IMAGE, "python3", "-m",
                    "http.server", str(port), "--bind", "127.0.0.1"], check=True, capture_output=True, timeout=120)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while (line := sessions.ask("default", name, LOOP, _payload(url), 10)) is None or '"refused"' in line:
            assert time.monotonic() < deadline, "the server in the container never answered"
            sessions._failed.clear()
            time.sleep(0.5)
        first = sessions._open[("default", name)].proc.pid
        answers = [parse(sessions.ask("default", name, LOOP, _payload(url), 10) or "", [Request(url)])[0]
                   for _ in range(5)]
        assert all(a.status == 200 and b"Directory listing" in a.body for a in answers)
        assert sessions._open[("default", name)].proc.pid == first          # one exec for every round
        missing = parse(sessions.ask("default", name, LOOP, _payload(f"http://127.0.0.1:{_free_port()}/"), 10)
                        or "", [Request("x")])[0]
        assert missing.status is None and missing.error == "connection refused"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
    assert sessions.ask("default", name, LOOP, _payload(url), 10) is None   # gone: the caller goes one-shot
    assert ("default", name) not in sessions._open
    assert sessions.ask("default", name, LOOP, _payload(url), 10) is None   # and is not respawned at once
