"""`vllm serve` argv + environment -> one frozen `MockConfig`. Pure: no I/O, no event loop."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pdcompose import catalog as C
from pdcompose.mock.argv import ArgvError, parse_serve
from pdcompose.mock.knobs import ConfigError, MockKnobs, env_number, parse_knobs

__all__ = ["ArgvError", "ConfigError", "MockConfig", "MockKnobs", "parse_argv"]

USAGE = "usage: vllm serve [model_tag] [options]  (the mock takes the flags of the vLLM release it stands for)"
DEFAULT_MODEL = "Qwen/Qwen3-0.6B"               # vLLM 0.13.0's ModelConfig.model: `vllm serve` with no model
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
    kv_load_failure_policy: str = "recompute"  # vLLM's default; "fail" ends a request whose KV cannot load
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
    """Parse with the parser of the vLLM release the mock stands for (PDCOMPOSE_MOCK_VLLM_VERSION);
    ArgvError (exit 2) where that `vllm serve` refuses the command line."""
    if not argv or argv[0] != "serve":
        raise ConfigError(USAGE)
    knobs = parse_knobs(environ)
    ns = parse_serve(catalog_for(knobs.vllm_version), argv)
    model = ns.model_tag or ns.model or DEFAULT_MODEL
    kv = _kv_transfer_config(ns.kv_transfer_config)
    return MockConfig(
        argv=tuple(argv), environ=tuple(sorted(environ.items())), model=model,
        served_model_names=tuple(ns.served_model_name or ()) or (model,),
        tokenizer=ns.tokenizer, host=ns.host or "0.0.0.0",
        port=_at_least(ns, "port", 8000, 0),
        api_keys=tuple(ns.api_key or ()) or _env_key(environ),
        tensor_parallel_size=_at_least(ns, "tensor_parallel_size", 1, 1),
        **_data_parallel(ns), data_parallel_hybrid_lb=bool(ns.data_parallel_hybrid_lb), headless=bool(ns.headless),
        stream_interval=_at_least(ns, "stream_interval", 1, 1),
        max_num_seqs=_at_least(ns, "max_num_seqs", 256, 1),
        max_model_len=_max_model_len(ns.max_model_len),
        kv_connector=kv.get("kv_connector") or None, kv_role=kv.get("kv_role"),
        kv_engine_id=kv.get("engine_id"),
        kv_load_failure_policy=kv.get("kv_load_failure_policy") or "recompute",
        disable_access_log=bool(ns.disable_uvicorn_access_log),
        side_channel_host=environ.get("VLLM_NIXL_SIDE_CHANNEL_HOST") or "localhost",
        side_channel_port=env_number(environ, "VLLM_NIXL_SIDE_CHANNEL_PORT", 5600, int),
        knobs=knobs,
    )


def catalog_for(version: str | None) -> C.Catalog:
    """The catalog of `version`, or of the nearest catalogued release not newer (catalog.choose)."""
    return C.choose(version or C.DEFAULT_VERSION)[0]


def _data_parallel(ns: Namespace) -> dict[str, Any]:
    size = _at_least(ns, "data_parallel_size", 1, 1)
    rank = ns.data_parallel_rank
    # --data-parallel-rank is external LB: one engine per process at that rank
    local = _at_least(ns, "data_parallel_size_local", 1 if rank is not None else size, 1)
    start = rank if rank is not None else _at_least(ns, "data_parallel_start_rank", 0, 0)
    if start + local > size:
        raise ConfigError(f"--data-parallel-start-rank {start} + --data-parallel-size-local {local} "
                          f"exceeds --data-parallel-size {size}")
    return dict(
        data_parallel_size=size, data_parallel_size_local=local, data_parallel_start_rank=start,
        data_parallel_address=ns.data_parallel_address or "127.0.0.1",
        data_parallel_rpc_port=_at_least(ns, "data_parallel_rpc_port", 29550, 1),
    )


def _max_model_len(value: int | None) -> int:
    """Parsed by vLLM's human_readable_int already; -1 (or none) means "from the model"."""
    if value is None or value == -1:
        return DEFAULT_MAX_MODEL_LEN
    if value < 1:
        raise ConfigError(f"argument --max-model-len: must be >= 1; got {value}")
    return value


def _kv_transfer_config(kv: Any) -> dict[str, Any]:
    if not isinstance(kv, dict):
        return {}                               # absent (None); vLLM's parser refused anything else
    if kv.get("kv_connector") and kv.get("kv_role") not in KV_ROLES:
        raise ConfigError(f"--kv-transfer-config: kv_connector requires kv_role in {list(KV_ROLES)}; "
                          f"got {kv.get('kv_role')!r}")
    return kv


def _env_key(environ: Mapping[str, str]) -> tuple[str, ...]:
    key = environ.get("VLLM_API_KEY")
    return (key,) if key else ()


def _at_least(ns: Namespace, dest: str, default: int, low: int) -> int:
    value = getattr(ns, dest)
    if value is None:
        return default
    if value < low:
        raise ConfigError(f"argument --{dest.replace('_', '-')}: must be >= {low}; got {value}")
    return int(value)
