"""The suite's network guard (tests/conftest.py) refuses, and reports, a connection outside loopback."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from tests.conftest import _OUTBOUND, OutboundConnection


def test_a_connection_to_the_examples_hosts_is_refused_and_recorded():
    try:
        with pytest.raises(OutboundConnection):
            socket.create_connection(("10.0.0.10", 8087), timeout=1)
        with pytest.raises(httpx.ConnectError):            # a library that swallows it still gets caught:
            httpx.get("http://10.0.0.11:8087/health", timeout=1)
        with pytest.raises(OutboundConnection):
            asyncio.run(asyncio.open_connection("10.0.0.12", 8087))
        assert _OUTBOUND == ["('10.0.0.10', 8087)", "('10.0.0.11', 8087)", "('10.0.0.12', 8087)"]
    finally:
        _OUTBOUND.clear()         # this test's own attempts are the point, not a failure


def test_loopback_and_unix_sockets_are_allowed(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), timeout=1):
        pass
    with pytest.raises(OSError) as info:                  # nobody listens there: refused by the kernel, not us
        socket.create_connection(("127.0.7.99", 9), timeout=1)
    assert not isinstance(info.value, OutboundConnection)
    unix = socket.socket(socket.AF_UNIX)
    with unix, pytest.raises(FileNotFoundError):
        unix.connect(str(tmp_path / "no.sock"))
    assert _OUTBOUND == []
