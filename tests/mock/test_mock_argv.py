"""The mock takes `vllm serve`'s command line unchanged: every command of the PD guide parses."""

from __future__ import annotations

import shlex

import pytest

from pdcompose.mock.argv import Flag, split_argv
from pdcompose.mock.config import ConfigError, parse_argv

MODEL = "nvidia/DeepSeek-R1-0528-FP4-v2"

# Copied from the guide (shared/seed/pd-disagg-readme.md), written as they are typed on a command
# line: the guide's `'{\"kv_connector\":...}'` inside a double-quoted shell variable would keep its
# single quotes after expansion, which real vLLM rejects as JSON too (see test_kv_config_must_be_json).
COMMON_ARGS = f"""
--model {MODEL}
--kv-cache-dtype fp8
--tensor-parallel-size 1
--pipeline-parallel-size 1
--enable-expert-parallel
--data-parallel-rpc-port 13345
--max-model-len 4096
--data-parallel-size-local 4
--disable-uvicorn-access-log
--no-enable-prefix-caching
--port 8087
--trust_remote_code
--no-enable-chunked-prefill
--all2all-backend allgather_reducescatter
--data-parallel-hybrid-lb
--compilation_config.custom_ops+=+quant_fp8,+rms_norm,+rotary_embedding
--compilation_config.pass_config.fuse_attn_quant true
--compilation_config.pass_config.fuse_allreduce_rms true
--compilation_config.pass_config.eliminate_noops true
--async-scheduling
--kv-transfer-config '{{"kv_connector":"NixlConnector","kv_role":"kv_both","kv_load_failure_policy":"fail"}}'
"""
PREFILL_ARGS = COMMON_ARGS + """
--swap-space 16
--max-num-seqs 8
--enforce-eager
--gpu-memory-utilization 0.9
--max-num-batched-tokens 16384
"""
DECODE_ARGS = COMMON_ARGS + """
--compilation-config '{"cudagraph_mode":"FULL_DECODE_ONLY"}'
--gpu-memory-utilization 0.9
--stream-interval 50
--max-num-seqs 512
--max-num-batched-tokens 4096
--max-cudagraph-capture-size 512
"""
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


def test_guide_flag_spellings_are_tokenised_like_vllm() -> None:
    _, flags = split_argv(guide_command(DECODE_ARGS, MASTER)[1:])
    by_name = {flag.name: flag for flag in flags}
    assert by_name["trust-remote-code"] == Flag("trust-remote-code", ())
    assert by_name["no-enable-prefix-caching"].values == ()
    assert by_name["compilation-config.custom_ops+"].values == ("+quant_fp8,+rms_norm,+rotary_embedding",)
    assert by_name["compilation-config.pass_config.fuse_attn_quant"].values == ("true",)
    assert by_name["compilation-config"].values == ('{"cudagraph_mode":"FULL_DECODE_ONLY"}',)
    assert by_name["all2all-backend"].values == ("allgather_reducescatter",)
    assert by_name["enable-expert-parallel"].values == ()


@pytest.mark.parametrize(("tokens", "expected"), [
    (["--foo=bar"], [Flag("foo", ("bar",))]),
    (["--foo=a=b"], [Flag("foo", ("a=b",))]),
    (["--temperature-offset", "-1.5"], [Flag("temperature-offset", ("-1.5",))]),
    (["--json", '{"a": [1, 2]}'], [Flag("json", ('{"a": [1, 2]}',))]),
    (["--unknown-switch", "--port", "1"], [Flag("unknown-switch", ()), Flag("port", ("1",))]),
    (["--trailing-switch"], [Flag("trailing-switch", ())]),
    (["--no-foo", "x"], [Flag("no-foo", ())]),
    (["-tp", "4", "-dpl", "2"], [Flag("tensor-parallel-size", ("4",)), Flag("data-parallel-size-local", ("2",))]),
    (["-tp=2"], [Flag("tensor-parallel-size", ("2",))]),
    (["--enforce-eager", "-tp", "2"], [Flag("enforce-eager", ()), Flag("tensor-parallel-size", ("2",))]),
    (["-O3"], [Flag("O", ("3",))]),
    (["--served-model-name", "a", "b", "--port", "1"],
     [Flag("served-model-name", ("a", "b")), Flag("port", ("1",))]),
    (["--some_flag.inner_key", "v"], [Flag("some-flag.inner_key", ("v",))]),
])
def test_flag_forms(tokens: list[str], expected: list[Flag]) -> None:
    _, flags = split_argv(tokens)
    assert flags == expected


def test_positional_and_model_flag() -> None:
    assert parse_argv(["serve", "--model", "m1"], {}).model == "m1"
    assert parse_argv(["serve", "m2", "--model", "m1"], {}).model == "m2"     # vLLM: model_tag wins
    assert parse_argv(["serve", "--enforce-eager", "m3"], {}).model == "m3"    # known switch takes no value
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
    with pytest.raises(ConfigError, match="--kv-transfer-config: invalid JSON"):
        parse_argv(["serve", "m", "--kv-transfer-config", quoted], {})
    with pytest.raises(ConfigError, match="kv_connector requires kv_role"):
        parse_argv(["serve", "m", "--kv-transfer-config", '{"kv_connector":"NixlConnector"}'], {})
    engine_id = parse_argv(["serve", "m", "--kv-transfer-config",
                            '{"kv_connector":"NixlConnector","kv_role":"kv_both","engine_id":"e1"}'], {})
    assert engine_id.kv_engine_id == "e1"


@pytest.mark.parametrize(("argv", "message"), [
    (["m"], "usage: vllm serve"),
    (["serve"], "the model is required"),
    (["serve", "m", "extra"], "unrecognized arguments: extra"),
    (["serve", "m", "--port", "eighty"], "--port: invalid int value"),
    (["serve", "m", "--port"], "--port: expected one argument"),
    (["serve", "m", "-tp", "0"], "--tensor-parallel-size: must be >= 1"),
    (["serve", "m", "--data-parallel-size", "4", "--data-parallel-size-local", "2",
      "--data-parallel-start-rank", "3"], "exceeds --data-parallel-size 4"),
])
def test_refused_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_argv(argv, {})


@pytest.mark.parametrize(("env", "message"), [
    ({"PDCOMPOSE_MOCK_LOAD_DELAY": "soon"}, "PDCOMPOSE_MOCK_LOAD_DELAY='soon': expected a number"),
    ({"PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN": "-1"}, "must be a finite number >= 0"),
    ({"PDCOMPOSE_MOCK_EXIT_CODE": "300"}, "an exit status is 0..255"),
    ({"VLLM_NIXL_SIDE_CHANNEL_PORT": "x"}, "VLLM_NIXL_SIDE_CHANNEL_PORT='x': expected an integer"),
])
def test_refused_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_argv(["serve", "m"], env)
