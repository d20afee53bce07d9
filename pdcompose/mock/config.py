"""`vllm serve` argv + environment -> one frozen `MockConfig`. Pure: no I/O, no event loop."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pdcompose.mock.argv import Flag, split_argv
from pdcompose.mock.knobs import ConfigError, MockKnobs, env_number, parse_knobs

__all__ = ["ConfigError", "MockConfig", "MockKnobs", "parse_argv"]

USAGE = "usage: vllm serve MODEL [options]  (the mock accepts every vLLM flag)"
KV_ROLES = ("kv_producer", "kv_consumer", "kv_both")
DEFAULT_MAX_MODEL_LEN = 8192                    # what a model config would say; the mock has none


@dataclass(frozen=True)
class MockConfig:
    argv: tuple[str, ...]                       # everything after the module name, "serve" included
    environ: tuple[tuple[str, str], ...]        # sorted snapshot at start
    model: str
    served_model_names: tuple[str, ...]
    tokenizer: str | None = None
    host: str = "0.0.0.0"
    port: int = 8000
    api_keys: tuple[str, ...] = ()
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    data_parallel_size_local: int = 1
    data_parallel_start_rank: int = 0
    data_parallel_address: str = "127.0.0.1"
    data_parallel_rpc_port: int = 29550
    data_parallel_hybrid_lb: bool = False
    headless: bool = False
    stream_interval: int = 1
    max_num_seqs: int = 256
    max_model_len: int = DEFAULT_MAX_MODEL_LEN
    kv_connector: str | None = None
    kv_role: str | None = None
    kv_engine_id: str | None = None
    disable_access_log: bool = False
    side_channel_host: str = "localhost"
    side_channel_port: int = 5600
    knobs: MockKnobs = MockKnobs()

    @property
    def served_model_name(self) -> str:
        return self.served_model_names[0]

    @property
    def local_ranks(self) -> range:
        """Global DP ranks of this node's engines."""
        start = self.data_parallel_start_rank
        return range(start, start + self.data_parallel_size_local)

    @property
    def dp_role(self) -> str:
        """"single" (the whole group is local), "master" (start rank 0) or "worker"."""
        if self.data_parallel_size_local >= self.data_parallel_size:
            return "single"
        return "master" if self.data_parallel_start_rank == 0 else "worker"


def parse_argv(argv: Sequence[str], environ: Mapping[str, str]) -> MockConfig:
    if not argv or argv[0] != "serve":
        raise ConfigError(USAGE)
    positionals, flag_list = split_argv(argv[1:])
    flags: dict[str, Flag] = {}
    for flag in flag_list:
        flags[flag.name] = flag                 # argparse: the last occurrence wins
    model = _model(positionals, flags)
    kv = _kv_transfer_config(flags)
    dp = _data_parallel(flags)
    switches = {name: _bool(flag_list, name)
                for name in ("headless", "data-parallel-hybrid-lb", "disable-uvicorn-access-log")}
    return MockConfig(
        argv=tuple(argv), environ=tuple(sorted(environ.items())), model=model,
        served_model_names=tuple(_values(flags, "served-model-name")) or (model,),
        tokenizer=_str(flags, "tokenizer"), host=_str(flags, "host") or "0.0.0.0",
        port=_int(flags, "port", 8000, low=0),
        api_keys=_api_keys(flag_list, environ),
        tensor_parallel_size=_int(flags, "tensor-parallel-size", 1, low=1),
        **dp, data_parallel_hybrid_lb=switches["data-parallel-hybrid-lb"], headless=switches["headless"],
        stream_interval=_int(flags, "stream-interval", 1, low=1),
        max_num_seqs=_int(flags, "max-num-seqs", 256, low=1),
        max_model_len=_max_model_len(flags),
        kv_connector=kv.get("kv_connector") or None, kv_role=kv.get("kv_role"),
        kv_engine_id=kv.get("engine_id"),
        disable_access_log=switches["disable-uvicorn-access-log"],
        side_channel_host=environ.get("VLLM_NIXL_SIDE_CHANNEL_HOST") or "localhost",
        side_channel_port=env_number(environ, "VLLM_NIXL_SIDE_CHANNEL_PORT", 5600, int),
        knobs=parse_knobs(environ),
    )


def _model(positionals: list[str], flags: dict[str, Flag]) -> str:
    # vLLM: the positional model_tag overrides --model (the guide passes both, with the same value)
    if len(positionals) > 1:
        raise ConfigError(f"unrecognized arguments: {' '.join(positionals[1:])}")
    model = positionals[0] if positionals else _str(flags, "model")
    if not model:
        raise ConfigError(f"the model is required (positional or --model)\n{USAGE}")
    return model


def _data_parallel(flags: dict[str, Flag]) -> dict[str, Any]:
    size = _int(flags, "data-parallel-size", 1, low=1)
    rank = _int(flags, "data-parallel-rank", 0, low=0) if "data-parallel-rank" in flags else None
    # --data-parallel-rank is external LB: one engine per process at that rank
    local = _int(flags, "data-parallel-size-local", 1 if rank is not None else size, low=1)
    start = rank if rank is not None else _int(flags, "data-parallel-start-rank", 0, low=0)
    if start + local > size:
        raise ConfigError(f"--data-parallel-start-rank {start} + --data-parallel-size-local {local} "
                          f"exceeds --data-parallel-size {size}")
    return dict(
        data_parallel_size=size, data_parallel_size_local=local, data_parallel_start_rank=start,
        data_parallel_address=_str(flags, "data-parallel-address") or "127.0.0.1",
        data_parallel_rpc_port=_int(flags, "data-parallel-rpc-port", 29550, low=1),
    )


def _max_model_len(flags: dict[str, Flag]) -> int:
    """vLLM's human-readable form: 4096, 32k (x1000), 32K (x1024), 1m, 1M; -1 means "from the model"."""
    raw = _str(flags, "max-model-len")
    if raw is None or raw.strip() == "-1":
        return DEFAULT_MAX_MODEL_LEN
    scale = {"k": 1000, "K": 1024, "m": 10**6, "M": 2**20}.get(raw.strip()[-1:], 1)
    try:
        value = int(float(raw.strip()[:-1] if scale > 1 else raw) * scale)
    except ValueError:
        raise ConfigError(f"argument --max-model-len: invalid value: {raw!r}") from None
    if value < 1:
        raise ConfigError(f"argument --max-model-len: must be >= 1; got {raw!r}")
    return value


def _kv_transfer_config(flags: dict[str, Flag]) -> dict[str, Any]:
    raw = _str(flags, "kv-transfer-config")
    if raw is None:
        return {}
    try:
        kv = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"argument --kv-transfer-config: invalid JSON {raw!r}: {exc}") from None
    if not isinstance(kv, dict):
        raise ConfigError(f"argument --kv-transfer-config: expected a JSON object; got {raw!r}")
    if kv.get("kv_connector") and kv.get("kv_role") not in KV_ROLES:
        raise ConfigError(f"--kv-transfer-config: kv_connector requires kv_role in {list(KV_ROLES)}; "
                          f"got {kv.get('kv_role')!r}")
    return kv


def _api_keys(flag_list: list[Flag], environ: Mapping[str, str]) -> tuple[str, ...]:
    keys = tuple(f.value for f in flag_list if f.name == "api-key" and f.value)
    env_key = environ.get("VLLM_API_KEY")
    return keys or ((env_key,) if env_key else ())


def _values(flags: dict[str, Flag], name: str) -> tuple[str, ...]:
    return flags[name].values if name in flags else ()


def _str(flags: dict[str, Flag], name: str) -> str | None:
    if name not in flags:
        return None
    value = flags[name].value
    if value is None:
        raise ConfigError(f"argument --{name}: expected one argument")
    return value


def _int(flags: dict[str, Flag], name: str, default: int, *, low: int) -> int:
    raw = _str(flags, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"argument --{name}: invalid int value: {raw!r}") from None
    if value < low:
        raise ConfigError(f"argument --{name}: must be >= {low}; got {value}")
    return value


def _bool(flag_list: list[Flag], name: str) -> bool:
    state = False
    for flag in flag_list:                      # argparse: the last of --x / --no-x wins
        if flag.name in (name, f"no-{name}"):
            state = flag.name == name
    return state
