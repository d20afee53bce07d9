"""The state one mock process shares between its HTTP routes and its background listeners."""

from __future__ import annotations

import math
import time

from pdcompose.mock.config import MockConfig, catalog_for
from pdcompose.mock.dp import make_group
from pdcompose.mock.engine import EnginePool
from pdcompose.mock.sidechannel import KVChecker
from pdcompose.mock.stats import Stats


class Runtime:
    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.knobs = config.knobs
        self.pool = EnginePool(config)
        self.stats = Stats(config.knobs.max_records)
        self.catalog = catalog_for(config.knobs.vllm_version)    # the vLLM release the mock stands for
        self.kv = KVChecker(config.knobs.kv_timeout, str(self.catalog.version))
        self.group = make_group(config)
        self._accepted = frozenset(config.api_keys)
        # an engine told to crash (PDCOMPOSE_MOCK_EXIT_CODE) is one that fails to start: never ready
        never = config.knobs.exit_code is not None
        self._load_done_at = math.inf if never else time.monotonic() + config.knobs.load_delay
        self.dead = False                # the engine core died (kvfail): /health 503, every request 500

    @property
    def loaded(self) -> bool:
        return time.monotonic() >= self._load_done_at

    @property
    def ready(self) -> bool:
        """What /health reports: the model is "loaded" and the whole DP group has formed."""
        return self.loaded and self.group.ready and not self.dead

    @property
    def engine_ids(self) -> list[str]:
        return [engine.engine_id for engine in self.pool.engines]

    def authorized(self, header: str | None) -> bool:
        """vLLM 0.13's --api-key check on /v1/* (AuthenticationMiddleware.verify_token): the scheme before the
        first space is `bearer` in any case and everything after that space is one of the keys."""
        if not self._accepted:
            return True
        scheme, _, param = (header or "").partition(" ")
        return scheme.lower() == "bearer" and param in self._accepted
