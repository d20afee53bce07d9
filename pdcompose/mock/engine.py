"""Local DP engines: the simulated batch of each (slots, counters, KV blocks) and rank selection.

Each engine admits at most `--max-num-seqs` requests at once, like vLLM's scheduler; the rest wait.
`running` and `waiting` are therefore real counts, which is what `/metrics` reports and what a
router's load-aware policy would read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

from pdcompose.mock.config import MockConfig
from pdcompose.mock.latency import Latencies
from pdcompose.mock.tokens import block_count

_BLOCK_ID_SPACE = 1 << 20      # block ids wrap: only their shape and count matter to the decode side


class RankError(ValueError):
    """An x-data-parallel-rank header this node cannot serve (vLLM answers 400)."""


class Engine:
    def __init__(self, local_rank: int, global_rank: int, engine_id: str, max_num_seqs: int) -> None:
        self.local_rank = local_rank
        self.global_rank = global_rank
        self.engine_id = engine_id
        self.max_num_seqs = max_num_seqs
        self._slots = asyncio.Semaphore(max_num_seqs)
        self.running = 0
        self.waiting = 0
        self.blocks_in_use = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self._next_block = 0
        self.latencies = Latencies()

    @contextlib.asynccontextmanager
    async def slot(self, blocks: int) -> AsyncIterator[None]:
        """Hold one of the engine's `max_num_seqs` places (and `blocks` KV blocks) for a request."""
        self.waiting += 1
        queued = time.monotonic()
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.latencies.queue.observe(time.monotonic() - queued)
        self.running += 1
        self.blocks_in_use += blocks
        try:
            yield
        finally:
            self.running -= 1
            self.blocks_in_use -= blocks
            self._slots.release()

    def allocate_blocks(self, prompt_tokens: int) -> list[int]:
        """Block ids a prefill hands to the decode side, distinct across recent requests."""
        count = block_count(prompt_tokens)
        first = self._next_block
        self._next_block = (first + count) % _BLOCK_ID_SPACE
        return [(first + i) % _BLOCK_ID_SPACE for i in range(count)]

    def kv_usage(self, total_blocks: int) -> float:
        return min(1.0, self.blocks_in_use / total_blocks) if total_blocks else 0.0


class EnginePool:
    def __init__(self, config: MockConfig) -> None:
        base = config.kv_engine_id or str(uuid.uuid4())
        suffixed = config.data_parallel_size > 1     # vLLM appends _dp<rank> only under DP
        self.engines = [
            Engine(local, rank, f"{base}_dp{rank}" if suffixed else base, config.max_num_seqs)
            for local, rank in enumerate(config.local_ranks)
        ]
        # KV capacity per engine: enough blocks for max_num_seqs full-length sequences
        self.total_blocks = config.max_num_seqs * block_count(config.max_model_len)
        self._turn = 0

    def pick(self, rank_header: str | None) -> Engine:
        """The engine a request runs on: the header's local index, else the least loaded."""
        if rank_header is not None:
            return self._by_header(rank_header)
        count = len(self.engines)
        if count == 1:
            return self.engines[0]
        self._turn = (self._turn + 1) % count
        order = self.engines[self._turn:] + self.engines[:self._turn]   # rotate so ties spread
        return min(order, key=lambda e: e.waiting * 4 + e.running)

    def _by_header(self, raw: str) -> Engine:
        try:
            rank = int(raw.strip())
        except ValueError:
            raise RankError(f"Invalid X-data-parallel-rank header value: {raw!r}") from None
        if not 0 <= rank < len(self.engines):
            raise RankError(f"Requested DP rank {rank} is out of range [0, {len(self.engines)})")
        return self.engines[rank]


async def simulate(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
