"""Long-lived `docker exec -i` sessions into a host's container, for rounds of in-host requests.

A one-shot `docker exec` costs the docker CLI's start, an SSH channel, the host's `docker system dial-stdio`,
the exec's creation and a Python start in the container: over a slow SSH link, several round trips for each
health poll. A session pays that once: the container runs engine/inside.py's LOOP, which reads one round of
requests per line and answers on one line; each later round is one round trip on an open stream.

Any failure (the container restarted or gone, no answer in time) closes the session and returns None: the
caller then takes the one-shot path, which knows the fallbacks (helper containers). A session that failed is
not reopened for a few seconds, so a container that is down costs no spawn storm. All are closed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import subprocess
import threading
import time

from pdcompose.engine.cli import argv

RETRY_AFTER = 5.0       # seconds before reopening a session that failed
_lock = threading.Lock()
_open: dict[tuple[str, str], _Session] = {}
_failed: dict[tuple[str, str], float] = {}


class _Session:
    def __init__(self, context: str, container: str, program: str) -> None:
        self.proc = subprocess.Popen(argv(context, ["exec", "-i", container, "python3", "-u", "-c", program]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()
        self.buffer = b""

    def ask(self, payload: str, timeout: float) -> str | None:
        with self.lock:
            if self.proc.poll() is not None or self.proc.stdin is None:
                return None
            try:
                self.proc.stdin.write(payload.encode() + b"\n")
                self.proc.stdin.flush()
            except OSError:
                return None
            return self._line(time.monotonic() + timeout)

    def _line(self, deadline: float) -> str | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode(errors="replace")

    def close(self) -> None:
        """Close its stdin (the loop in the container ends, the exec with it); the caller need not wait."""
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def reap(self, deadline: float) -> None:
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ask(context: str, container: str, program: str, payload: str, timeout: float) -> str | None:
    """One round through the session into `container` on `context`'s host, or None (use the one-shot path).
    `program` is the Python the session runs (engine/inside.py's LOOP, passed in: inside imports this
    module, so this one does not import it back)."""
    if os.environ.get("PDCOMPOSE_EXEC_SESSIONS", "1") == "0":
        return None
    key = (context, container)
    with _lock:
        if time.monotonic() - _failed.get(key, -RETRY_AFTER) < RETRY_AFTER:
            return None
        session = _open.get(key)
        if session is None:
            session = _open[key] = _Session(context, container, program)
    answer = session.ask(payload, timeout)
    if answer is None:
        with _lock:
            if _open.get(key) is session:
                del _open[key]
            _failed[key] = time.monotonic()
        session.close()
        session.reap(time.monotonic() + 0.5)
    return answer


@atexit.register
def close_all() -> None:
    """Close every session's stdin and go: each exec ends by itself once its stream closes, and waiting for
    them would add its wind-down to every command that used one."""
    with _lock:
        doomed = list(_open.values())
        _open.clear()
    for session in doomed:
        session.close()
