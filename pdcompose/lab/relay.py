"""An SSH ProxyCommand that relays stdin/stdout to HOST:PORT and delays every chunk by a fixed time in each
direction: the lab's slow link (this machine's kernel has no netem qdisc to delay packets).

Order is kept: each direction is one queue drained by one writer that sends a chunk no earlier than its
arrival plus the delay.

    python -m pdcompose.lab.relay --delay-ms 50 HOST PORT
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable

CHUNK = 65536


def _reader(read: Callable[[], bytes], out: queue.Queue[tuple[float, bytes]], delay: float) -> None:
    while True:
        try:
            data = read()
        except OSError:
            data = b""
        out.put((time.monotonic() + delay, data))
        if not data:
            return


def _writer(inbox: queue.Queue[tuple[float, bytes]], write: Callable[[bytes], None],
            close: Callable[[], None]) -> None:
    while True:
        due, data = inbox.get()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if not data:
            close()
            return
        try:
            write(data)
        except OSError:
            close()
            return


def relay(host: str, port: int, delay: float) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    up: queue.Queue[tuple[float, bytes]] = queue.Queue()
    down: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def write_out(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(stdout, view):]

    def shut_up() -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    threads = [
        threading.Thread(target=_reader, args=(lambda: os.read(stdin, CHUNK), up, delay), daemon=True),
        threading.Thread(target=_writer, args=(up, sock.sendall, shut_up), daemon=True),
        threading.Thread(target=_reader, args=(lambda: sock.recv(CHUNK), down, delay), daemon=True),
    ]
    for t in threads:
        t.start()
    _writer(down, write_out, lambda: None)   # the server closed: so are we


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pdcompose.lab.relay")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay, each direction")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    relay(args.host, args.port, args.delay_ms / 1000)


if __name__ == "__main__":
    main()
