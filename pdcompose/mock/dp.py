"""DP group formation across nodes, as in the guide's multi-node hybrid-LB layout.

Real vLLM cannot serve until every DP rank of the group has joined the coordinator on the node with
start rank 0, so a deployment's health gate has to cope with one node waiting for another. The mock
reproduces that dependency with newline-delimited JSON over TCP:

    worker -> master   {"op": "register", "dp_size": N, "start_rank": s, "size_local": n}
    master -> worker   {"op": "status", "ok": true, "complete": bool, "present": [ranks]}
                       on every change and every HEARTBEAT seconds; or ok=false + "error", then close.

The master listens on `--data-parallel-address:--data-parallel-rpc-port` and is ready once ranks
0..N-1 are all present. A worker is ready while it is registered with a master whose group is
complete; when the master goes away (EOF or silence for 3 heartbeats) it is unready.

A group does not heal, as vLLM's does not: its engines form one stateless torch.distributed group once,
at start (vLLM 0.13.0 v1/engine/core.py DPEngineCoreProc._init_data_parallel ->
ParallelConfig.stateless_init_dp_group), so a restarted master's engines wait at the rendezvous for
ranks whose engines are still members of the old group, and the workers' engines fail at their next
DP all-reduce (has_unfinished_dp). Read from the source, not observed: vLLM's idle worker still answers
/health 200 until a request makes it all-reduce; the mock's turns 503 at once. Either way the group
stays broken until every node restarts (`pdcompose restart` or the group watchdog restarts the group,
master first). Likewise a master whose formed group lost a member stays broken: a restarted worker that
dials it is refused (its engines would wait at a rendezvous the old members never reach), so a mock
group heals only the way vLLM's does, by restarting every node. A
worker that never saw its group complete keeps dialling (the normal start order);
PDCOMPOSE_MOCK_DP_REJOIN=1 makes a worker redial a lost master too, for tests of other things.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from pdcompose.mock.config import MockConfig
from pdcompose.mock.sidechannel import StartupError

log = logging.getLogger("pdcompose.mock.dp")

HEARTBEAT = 1.0
RETRY = 0.5
_NETWORK_ERRORS = (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError)


class SingleNode:
    """The whole DP group is on this node: nothing to wait for."""

    ready = True

    def __init__(self, config: MockConfig) -> None:
        del config

    async def start(self) -> None:
        return None

    def close(self) -> None:
        return None


class DPMaster:
    def __init__(self, config: MockConfig) -> None:
        self._config = config
        self._size = config.data_parallel_size
        self._own = frozenset(config.local_ranks)
        self._members: dict[int, frozenset[int]] = {}
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._formed = False            # the group was complete once
        self._broken = False            # ... and then lost a member: it never serves again

    @property
    def present(self) -> set[int]:
        return set(self._own).union(*self._members.values())

    @property
    def ready(self) -> bool:
        return not self._broken and len(self.present) == self._size   # members are disjoint, in range (_admit)

    async def start(self) -> None:
        host, port = self._config.data_parallel_address, self._config.data_parallel_rpc_port
        try:
            self._server = await asyncio.start_server(self._serve, host, port)
        except OSError as exc:
            reason = exc.strerror or exc
            raise StartupError(f"DP coordinator cannot listen on {host}:{port}: {reason}") from None
        log.info("DP master for ranks %s listening on %s:%d; waiting for %d rank(s)",
                 sorted(self._own), host, port, self._size - len(self._own))

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _admit(self, hello: Any) -> tuple[frozenset[int], str | None]:
        if not isinstance(hello, dict) or hello.get("op") != "register":
            return frozenset(), "expected a register message"
        size, start, local = hello.get("dp_size"), hello.get("start_rank"), hello.get("size_local")
        if size != self._size:
            return frozenset(), f"data_parallel_size mismatch: master {self._size}, worker {size}"
        if not (isinstance(start, int) and isinstance(local, int) and start >= 0 and start + local <= size):
            return frozenset(), f"invalid rank range start={start} size_local={local} for DP size {size}"
        if self._broken:
            return frozenset(), "the DP group lost a member after it formed: restart every node of the group"
        ranks = frozenset(range(start, start + local))
        taken = ranks & self.present
        if taken:
            return frozenset(), f"DP ranks {sorted(taken)} are already present"
        return ranks, None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _status(self) -> bytes:
        return json.dumps({"op": "status", "ok": True, "complete": self.ready,
                           "present": sorted(self.present)}).encode() + b"\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = id(writer)
        try:
            hello = json.loads(await asyncio.wait_for(reader.readline(), 3 * HEARTBEAT))
            ranks, error = self._admit(hello)
            if error:
                writer.write(json.dumps({"op": "status", "ok": False, "error": error}).encode() + b"\n")
                await writer.drain()
                log.warning("DP master refused %s: %s", writer.get_extra_info("peername"), error)
                return
            self._members[key] = ranks
            log.info("DP ranks %s joined; %d/%d present", sorted(ranks), len(self.present), self._size)
            self._formed = self._formed or self.ready
            self._notify()
            await self._follow(reader, writer)
        except _NETWORK_ERRORS:
            pass
        finally:
            if self._members.pop(key, None) is not None:
                log.warning("DP worker left; %d/%d ranks present", len(self.present), self._size)
                if self._formed and not self._config.knobs.dp_rejoin:
                    self._broken = True
                    log.error("DP group broken: a member left after it formed; this node's engines cannot "
                              "serve until every node of the group restarts (master first)")
                self._notify()
            writer.close()

    async def _follow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Send the group status on change and on every heartbeat until the worker hangs up."""
        gone = asyncio.ensure_future(reader.read())      # workers send nothing more: this is EOF
        try:
            while not gone.done():
                writer.write(self._status())
                await writer.drain()
                changed = asyncio.ensure_future(self._changed.wait())
                await asyncio.wait({gone, changed}, timeout=HEARTBEAT, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
        finally:
            gone.cancel()


class DPWorker:
    def __init__(self, config: MockConfig) -> None:
        self._config = config
        self._task: asyncio.Task[None] | None = None
        self._last_refusal: str | None = None
        self._formed = False             # the group was complete once
        self.ready = False

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        address = f"{self._config.data_parallel_address}:{self._config.data_parallel_rpc_port}"
        # like vLLM's engines, a worker's ranks join the group only once its model has loaded
        await asyncio.sleep(self._config.knobs.load_delay)
        log.info("DP ranks %s waiting for the DP master at %s", list(self._config.local_ranks), address)
        while True:
            with contextlib.suppress(*_NETWORK_ERRORS):
                await self._session(address)
            if self._formed and not self._config.knobs.dp_rejoin:
                log.error("the DP group's master at %s went away; this node's engines belong to a group that "
                          "no longer exists: restart the whole group (master first)", address)
                return
            await asyncio.sleep(RETRY)

    async def _session(self, address: str) -> None:
        cfg = self._config
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(cfg.data_parallel_address, cfg.data_parallel_rpc_port), 2 * HEARTBEAT)
        try:
            hello = {"op": "register", "dp_size": cfg.data_parallel_size,
                     "start_rank": cfg.data_parallel_start_rank, "size_local": cfg.data_parallel_size_local}
            writer.write(json.dumps(hello).encode() + b"\n")
            await writer.drain()
            while line := await asyncio.wait_for(reader.readline(), 3 * HEARTBEAT):
                status = json.loads(line)
                if not status.get("ok"):
                    if status.get("error") != self._last_refusal:    # it retries forever: log once
                        log.error("DP master at %s refused this node: %s", address, status.get("error"))
                    self._last_refusal = status.get("error")
                    return
                if status.get("complete") != self.ready:
                    log.info("DP group %s", "complete" if status.get("complete") else "incomplete")
                self.ready = bool(status.get("complete"))
                self._formed = self._formed or self.ready
        finally:
            if self.ready:
                log.warning("lost the DP master at %s; retrying", address)
            self.ready = False
            writer.close()


def make_group(config: MockConfig) -> SingleNode | DPMaster | DPWorker:
    kinds: dict[str, Callable[[MockConfig], SingleNode | DPMaster | DPWorker]] = {
        "single": SingleNode, "master": DPMaster, "worker": DPWorker}
    return kinds[config.dp_role](config)
