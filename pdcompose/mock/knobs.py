"""Mock-only behaviour from PDCOMPOSE_MOCK_* variables (defaults in the package docstring).

Environment, not flags: the vLLM command line of a rehearsal must stay that of a real deployment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A command line or environment vLLM would refuse; the process exits 2 like argparse."""


@dataclass(frozen=True)
class MockKnobs:
    load_delay: float = 0.0
    prefill_ms_per_1k: float = 40.0
    decode_ms_per_token: float = 10.0
    exit_code: int | None = None
    exit_after: float = 0.0
    kv_timeout: float = 1.0
    max_records: int = 100_000
    access_log: bool = False
    vllm_version: str | None = None     # the release whose parser judges the argv (catalog.DEFAULT_VERSION)
    dp_rejoin: bool = False             # a DP group heals around a restarted node (vLLM's does not)
    survive_kv_failure: bool = False    # a failed KV pull does not kill the engine (vLLM 0.13.0's dies)

    def prefill_seconds(self, prompt_tokens: int) -> float:
        return self.prefill_ms_per_1k * prompt_tokens / 1e6

    def decode_seconds(self, tokens: int) -> float:
        return self.decode_ms_per_token * tokens / 1e3


def parse_knobs(environ: Mapping[str, str]) -> MockKnobs:
    code = environ.get("PDCOMPOSE_MOCK_EXIT_CODE", "").strip()
    exit_code = env_number(environ, "PDCOMPOSE_MOCK_EXIT_CODE", 0, int) if code else None
    if exit_code is not None and exit_code > 255:
        raise ConfigError(f"PDCOMPOSE_MOCK_EXIT_CODE={code!r}: an exit status is 0..255")
    return MockKnobs(
        load_delay=env_number(environ, "PDCOMPOSE_MOCK_LOAD_DELAY", 0.0, float),
        prefill_ms_per_1k=env_number(environ, "PDCOMPOSE_MOCK_PREFILL_MS_PER_1K", 40.0, float),
        decode_ms_per_token=env_number(environ, "PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN", 10.0, float),
        exit_code=exit_code,
        exit_after=env_number(environ, "PDCOMPOSE_MOCK_EXIT_AFTER", 0.0, float),
        kv_timeout=env_number(environ, "PDCOMPOSE_MOCK_KV_TIMEOUT", 1.0, float),
        max_records=env_number(environ, "PDCOMPOSE_MOCK_MAX_RECORDS", 100_000, int),
        access_log=_switch(environ, "PDCOMPOSE_MOCK_ACCESS_LOG"),
        vllm_version=environ.get("PDCOMPOSE_MOCK_VLLM_VERSION", "").strip() or None,
        dp_rejoin=_switch(environ, "PDCOMPOSE_MOCK_DP_REJOIN"),
        survive_kv_failure=_switch(environ, "PDCOMPOSE_MOCK_SURVIVE_KV_FAILURE"),
    )


def _switch(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def env_number(environ: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected {'an integer' if kind is int else 'a number'}") from None
    if value < 0 or (kind is float and not math.isfinite(value)):
        raise ConfigError(f"{name}={raw!r}: must be a finite number >= 0")
    return value
