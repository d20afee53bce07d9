"""Which TCP ports of some hosts answer: a connect scan of every port 1-65535, run as `python3 scan.py
ADDRESS...` from inside a network namespace. Bounded: at most BATCH non-blocking connects in flight, each
given TIMEOUT seconds (a port whose SYN is dropped costs that; a closed one answers RST at once), so a full
scan of a few hosts on a local network takes seconds. Prints {address: [open ports]} as JSON. Stdlib only:
it runs in any namespace with python3."""

from __future__ import annotations

import errno
import json
import selectors
import socket
import sys
import time

BATCH = 1000
TIMEOUT = 1.0


def _batch(targets: list[tuple[str, int]]) -> list[tuple[str, int]]:
    sel = selectors.DefaultSelector()
    pending = {}
    for target in targets:
        s = socket.socket()
        s.setblocking(False)
        code = s.connect_ex(target)
        if code in (0, errno.EINPROGRESS):
            sel.register(s, selectors.EVENT_WRITE, target)
            pending[s] = target
        else:
            s.close()
    found = []
    deadline = time.monotonic() + TIMEOUT
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(max(deadline - time.monotonic(), 0)):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                found.append(key.data)
            sel.unregister(s)
            s.close()
            del pending[s]
    for s in pending:
        s.close()
    sel.close()
    return found


def scan(addresses: list[str], ports: range = range(1, 65536)) -> dict[str, list[int]]:
    targets = [(a, p) for a in addresses for p in ports]
    found: list[tuple[str, int]] = []
    for i in range(0, len(targets), BATCH):
        found += _batch(targets[i:i + BATCH])
    return {a: sorted(p for fa, p in found if fa == a) for a in addresses}


if __name__ == "__main__":
    print(json.dumps(scan(sys.argv[1:])))
