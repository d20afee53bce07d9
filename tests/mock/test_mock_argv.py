"""The mock takes `vllm serve`'s command line unchanged, parsed by the parser of the vLLM release it stands
for (rebuilt from the catalog): every command of the PD guide parses, once its model is named once.
tests/vllm/test_mock_parser.py compares the refusals with vLLM's own parser."""

from __future__ import annotations

import json
import shlex

import pytest

from pdcompose.mock.argv import ArgvError, preprocess
from pdcompose.mock.config import DEFAULT_MODEL, ConfigError, parse_argv
from tests.upstream import guide_variable

MODEL = "nvidia/DeepSeek-R1-0528-FP4-v2"


def guide_args(variable: str) -> str:
    """The guide's shell variable (docs/upstream/pd-disagg-readme.md) as its arguments are typed on a command
    line: the guide's `'{\\"kv_connector\\":...}'` inside a double-quoted shell variable would keep its
    single quotes after expansion, which real vLLM rejects as JSON too (see test_kv_config_must_be_json).
    The guide also passes `--model MODEL` after the positional MODEL; vLLM 0.13.0 refuses that (see
    test_the_guide_as_typed_names_the_model_twice), so the commands here name it once."""
    lines = [line.replace('\\"', '"') for line in guide_variable(variable)
             if not line.startswith("--model ") and line != "$COMMON_ARGS"]
    return "\n" + "\n".join(lines) + "\n"


COMMON_ARGS = guide_args("COMMON_ARGS")
PREFILL_ARGS = COMMON_ARGS + guide_args("PREFILL_ARGS")
DECODE_ARGS = COMMON_ARGS + guide_args("DECODE_ARGS")
MASTER = "--data-parallel-address prefill-master-0 --data-parallel-size 8"
WORKER = "--data-parallel-address prefill-master-0 --data-parallel-start-rank 4 --data-parallel-size 8"


def guide_command(role_args: str, node_args: str) -> list[str]:
    return shlex.split(f"serve {MODEL} {role_args} {node_args}")


@pytest.mark.parametrize("role_args", [PREFILL_ARGS, DECODE_ARGS], ids=["prefill", "decode"])
@pytest.mark.parametrize("node_args", [MASTER, WORKER], ids=["master", "worker"])
def test_every_guide_command_parses(role_args: str, node_args: str) -> None:
    argv = guide_command(role_args, node_args)
    config = parse_argv(argv, {"VLLM_NIXL_SIDE_CHANNEL_HOST": "10.0.0.5", "VLLM_NIXL_SIDE_CHANNEL_PORT": "5600"})
    assert config.argv == tuple(argv)
    assert config.model == MODEL and config.served_model_names == (MODEL,)
    assert (config.port, config.host, config.tensor_parallel_size, config.max_model_len) == (8087, "0.0.0.0", 1, 4096)
    assert (config.data_parallel_size, config.data_parallel_size_local) == (8, 4)
    assert (config.data_parallel_address, config.data_parallel_rpc_port) == ("prefill-master-0", 13345)
    assert config.data_parallel_hybrid_lb and config.disable_access_log and not config.headless
    assert (config.kv_connector, config.kv_role) == ("NixlConnector", "kv_both")
    assert (config.side_channel_host, config.side_channel_port) == ("10.0.0.5", 5600)
    if node_args == MASTER:
        assert config.dp_role == "master" and config.local_ranks == range(0, 4)
    else:
        assert config.dp_role == "worker" and config.local_ranks == range(4, 8)
    if role_args == PREFILL_ARGS:
        assert (config.max_num_seqs, config.stream_interval) == (8, 1)
    else:
        assert (config.max_num_seqs, config.stream_interval) == (512, 50)


def test_the_guide_as_typed_names_the_model_twice() -> None:
    """vLLM moves `--model X` to the front, so the guide's positional MODEL is one argument too many."""
    argv = guide_command(PREFILL_ARGS + f"--model {MODEL}", MASTER)
    with pytest.raises(ArgvError, match=f"^vllm: error: unrecognized arguments: {MODEL}$"):
        parse_argv(argv, {})


def test_guide_flag_spellings_are_read_like_vllm() -> None:
    """vLLM's pre-pass: underscores become dashes in option names, dotted keys merge into one JSON."""
    out = preprocess(guide_command(DECODE_ARGS, MASTER))
    assert "--trust-remote-code" in out and "--no-enable-prefix-caching" in out
    assert not [t for t in out if t.startswith("--compilation_config") or t.startswith("--compilation-config.")]
    assert out[-2] == "--compilation-config"           # appended last: it replaces the decode's explicit one
    merged = out[-1]
    assert json.loads(merged) == {"custom_ops": ["+quant_fp8", "+rms_norm", "+rotary_embedding"],
                                  "pass_config": {"fuse_attn_quant": True, "fuse_allreduce_rms": True,
                                                  "eliminate_noops": True}}


@pytest.mark.parametrize(("tokens", "dest", "value"), [
    (["--port=8001"], "port", 8001),
    (["--max_num_seqs", "4"], "max_num_seqs", 4),
    (["-tp", "4"], "tensor_parallel_size", 4),
    (["-tp=2"], "tensor_parallel_size", 2),
    (["--enforce-eager", "-tp", "2"], "tensor_parallel_size", 2),
    (["--served-model-name", "a", "b", "--port", "1"], "served_model_names", ("a", "b")),
    (["--max-num-batched-token", "8192"], "argv", None),       # an abbreviation: argparse takes it
])
def test_flag_forms(tokens: list[str], dest: str, value: object) -> None:
    config = parse_argv(["serve", "m", *tokens], {})
    if value is not None:
        assert getattr(config, dest) == value


def test_the_catalog_knows_which_flags_take_values() -> None:
    """A switch never takes the next token (the model after it is still the model); an unknown flag is
    refused, not guessed at."""
    assert parse_argv(["serve", "--enforce-eager", "m3"], {}).model == "m3"
    assert parse_argv(["serve", "--data-parallel-hybrid-lb", "m4"], {}).model == "m4"
    with pytest.raises(ArgvError, match="unrecognized arguments: --unknown-switch"):
        parse_argv(["serve", "m", "--unknown-switch"], {})


def test_the_release_judges(monkeypatch: pytest.MonkeyPatch) -> None:
    """--swap-space is in vLLM 0.13.0, gone in 0.32.0: the mock standing for each says the same."""
    assert parse_argv(["serve", "m", "--swap-space", "16"], {"PDCOMPOSE_MOCK_VLLM_VERSION": "0.13.0"})
    with pytest.raises(ArgvError, match="unrecognized arguments: --swap-space 16"):
        parse_argv(["serve", "m", "--swap-space", "16"], {"PDCOMPOSE_MOCK_VLLM_VERSION": "0.32.0"})


def test_positional_and_model_flag() -> None:
    assert parse_argv(["serve", "--model", "m1"], {}).model == "m1"
    assert parse_argv(["serve"], {}).model == DEFAULT_MODEL                    # vLLM's default model
    config = parse_argv(["serve", "m", "--served-model-name", "a", "b", "--tokenizer", "tok"], {})
    assert config.served_model_names == ("a", "b") and config.tokenizer == "tok"


def test_defaults() -> None:
    config = parse_argv(["serve", "m"], {})
    assert (config.host, config.port, config.max_num_seqs, config.stream_interval) == ("0.0.0.0", 8000, 256, 1)
    assert (config.side_channel_host, config.side_channel_port) == ("localhost", 5600)
    assert config.dp_role == "single" and config.local_ranks == range(0, 1)
    assert config.kv_connector is None and config.api_keys == ()
    assert (config.knobs.prefill_ms_per_1k, config.knobs.decode_ms_per_token, config.knobs.exit_code) == (40, 10, None)


def test_max_model_len_human_readable() -> None:
    lengths = [parse_argv(["serve", "m", "--max-model-len", raw], {}).max_model_len
               for raw in ("4096", "32k", "32K", "1m", "-1")]
    assert lengths == [4096, 32000, 32768, 1000000, 8192]


def test_data_parallel_rank_means_one_engine_at_that_rank() -> None:
    config = parse_argv(["serve", "m", "--data-parallel-size", "4", "--data-parallel-rank", "3"], {})
    assert config.local_ranks == range(3, 4) and config.dp_role == "worker"


def test_switch_negation_last_wins_and_api_key_sources() -> None:
    config = parse_argv(["serve", "m", "--data-parallel-hybrid-lb", "--no-data-parallel-hybrid-lb"], {})
    assert not config.data_parallel_hybrid_lb
    assert parse_argv(["serve", "m", "--api-key", "k1"], {"VLLM_API_KEY": "k2"}).api_keys == ("k1",)
    assert parse_argv(["serve", "m"], {"VLLM_API_KEY": "k2"}).api_keys == ("k2",)


def test_kv_config_must_be_json() -> None:
    quoted = """'{"kv_connector":"NixlConnector","kv_role":"kv_both"}'"""    # literal shell quotes kept
    with pytest.raises(ArgvError, match="--kv-transfer-config: 1 validation error for KVTransferConfig"):
        parse_argv(["serve", "m", "--kv-transfer-config", quoted], {})
    with pytest.raises(ConfigError, match="kv_connector requires kv_role"):
        parse_argv(["serve", "m", "--kv-transfer-config", '{"kv_connector":"NixlConnector"}'], {})
    engine_id = parse_argv(["serve", "m", "--kv-transfer-config",
                            '{"kv_connector":"NixlConnector","kv_role":"kv_both","engine_id":"e1"}'], {})
    assert engine_id.kv_engine_id == "e1"


@pytest.mark.parametrize(("argv", "message"), [
    (["m"], "usage: vllm serve"),
    (["serve", "m", "-tp", "0"], "--tensor-parallel-size: must be >= 1"),
    (["serve", "m", "--data-parallel-size", "4", "--data-parallel-size-local", "2",
      "--data-parallel-start-rank", "3"], "exceeds --data-parallel-size 4"),
])
def test_refused_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_argv(argv, {})


@pytest.mark.parametrize(("argv", "line"), [
    (["serve", "m", "extra"], "vllm: error: unrecognized arguments: extra"),
    (["serve", "m", "--port", "eighty"], "vllm serve: error: argument --port: invalid int value: 'eighty'"),
    (["serve", "m", "--port"], "vllm serve: error: argument --port: expected one argument"),
])
def test_refused_by_vllms_parser(argv: list[str], line: str) -> None:
    with pytest.raises(ArgvError) as caught:
        parse_argv(argv, {})
    assert caught.value.line == line and caught.value.usage.startswith("usage: vllm")


@pytest.mark.parametrize(("env", "message"), [
    ({"PDCOMPOSE_MOCK_LOAD_DELAY": "soon"}, "PDCOMPOSE_MOCK_LOAD_DELAY='soon': expected a number"),
    ({"PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": "-1"}, "must be a finite number >= 0"),
    ({"PDCOMPOSE_MOCK_EXIT_CODE": "300"}, "an exit status is 0..255"),
    ({"VLLM_NIXL_SIDE_CHANNEL_PORT": "x"}, "VLLM_NIXL_SIDE_CHANNEL_PORT='x': expected an integer"),
])
def test_refused_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_argv(["serve", "m"], env)
