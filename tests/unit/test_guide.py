"""The example topology must reproduce vLLM's PD guide (docs/upstream/pd-disagg-readme.md) exactly.

Every flag and environment variable below is transcribed from the guide, with its placeholders
filled in as examples/deepseek-r1-gb200.yaml fills them (test_the_transcription_is_the_guide_s checks the
transcription against the guide's text). The test renders the example and checks each
node's Compose service: what a reader of the guide would type by hand is what pdcompose writes.
"""

from __future__ import annotations

import json
import shlex

import pytest

from tests.helpers import EXAMPLE, flag_values, load_yaml, run_cli
from tests.upstream import guide_section, guide_variable

MODEL = "nvidia/DeepSeek-R1-0528-FP4-v2"
IFACE = "enP22p3s0f1np1"
ADDR = {f"gb200-n{i}": f"10.0.0.1{i}" for i in range(7)}
KV_JSON = '{"kv_connector":"NixlConnector","kv_role":"kv_both","kv_load_failure_policy":"fail"}'

COMMON_ARGS = {  # the guide's COMMON_ARGS, minus --model (positional: `vllm serve MODEL`)
    "--kv-cache-dtype": ["fp8"], "--tensor-parallel-size": ["1"], "--pipeline-parallel-size": ["1"],
    "--enable-expert-parallel": [], "--data-parallel-rpc-port": ["13345"], "--max-model-len": ["4096"],
    "--data-parallel-size-local": ["4"], "--disable-uvicorn-access-log": [], "--no-enable-prefix-caching": [],
    "--port": ["8087"], "--trust_remote_code": [], "--no-enable-chunked-prefill": [],
    "--all2all-backend": ["allgather_reducescatter"], "--data-parallel-hybrid-lb": [],
    "--async-scheduling": [], "--kv-transfer-config": [KV_JSON],
}
# The guide's compilation settings, as ONE --compilation-config per node. The guide passes them as dotted
# `--compilation_config.custom_ops+=...` / `.pass_config.*` flags plus, on the decode, a JSON
# `--compilation-config '{"cudagraph_mode":"FULL_DECODE_ONLY"}'`; vLLM's parser merges the dotted ones into
# a JSON appended last, which replaces the decode's: the guide's decode silently loses cudagraph_mode.
COMPILATION = {"custom_ops": ["+quant_fp8", "+rms_norm", "+rotary_embedding"],
               "pass_config": {"fuse_attn_quant": True, "fuse_allreduce_rms": True, "eliminate_noops": True}}
DECODE_COMPILATION = {"cudagraph_mode": "FULL_DECODE_ONLY", **COMPILATION}
PREFILL_ARGS = {"--swap-space": ["16"], "--max-num-seqs": ["8"], "--enforce-eager": [],
                "--gpu-memory-utilization": ["0.9"], "--max-num-batched-tokens": ["16384"]}
DECODE_ARGS = {"--gpu-memory-utilization": ["0.9"], "--stream-interval": ["50"], "--max-num-seqs": ["512"],
               "--max-num-batched-tokens": ["4096"], "--max-cudagraph-capture-size": ["512"]}
# The guide's `export NVIDIA_GDRCOPY=1` is left out on purpose: the NVIDIA Container Toolkit acts only on
# NVIDIA_GDRCOPY=enabled, under its own runtime; `gdrcopy: true` on a host maps /dev/gdrdrv instead.
SYSTEM_ENV = {"NVSHMEM_IB_ENABLE_IBGDA": "1", "NVSHMEM_BOOTSTRAP_UID_SOCK_IFNAME": IFACE,
              "UCX_IB_ROCE_REACHABILITY_MODE": "local_subnet", "VLLM_SKIP_P2P_CHECK": "1",
              "GLOO_SOCKET_IFNAME": IFACE, "NCCL_SOCKET_IFNAME": IFACE, "NCCL_CUMEM_ENABLE": "1",
              "NCCL_MNNVL_ENABLE": "1", "NCCL_NVLS_ENABLE": "1", "NCCL_TIMEOUT": "1800",
              "TORCH_NCCL_HEARTBEAT_TIMEOUT_SEC": "1800", "HF_HOME": "/mnt/hf-cache"}
VLLM_ENV = {"VLLM_USE_FLASHINFER_MOE_FP4": "1", "VLLM_USE_TRTLLM_RAGGED_DEEPSEEK_PREFILL": "1",
            "VLLM_USE_NCCL_SYMM_MEM": "1", "VLLM_NIXL_SIDE_CHANNEL_PORT": "5600",
            "VLLM_NIXL_ABORT_REQUEST_TIMEOUT": "300"}
DECODE_ENV = {"VLLM_SHARED_EXPERTS_STREAM_TOKEN_THRESHOLD": "8192"}

# (host, service, role, DP master host, start rank) for the guide's six `vllm serve` commands
NODES = [
    ("gb200-n0", "prefill-0-node-0", "prefill", "gb200-n0", 0),
    ("gb200-n1", "prefill-0-node-1", "prefill", "gb200-n0", 4),
    ("gb200-n2", "prefill-1-node-0", "prefill", "gb200-n2", 0),
    ("gb200-n3", "prefill-1-node-1", "prefill", "gb200-n2", 4),
    ("gb200-n4", "decode-0-node-0", "decode", "gb200-n4", 0),
    ("gb200-n5", "decode-0-node-1", "decode", "gb200-n4", 4),
]


def _guide_flags(variable: str) -> dict[str, list[list[str]]]:
    typed = " ".join(line for line in guide_variable(variable) if line != "$COMMON_ARGS")
    return flag_values(shlex.split(typed.replace('\\"', '"')))   # the JSON as vLLM must receive it


def _guide_exports(heading: str) -> dict[str, str]:
    lines = [line.split("#")[0].split(maxsplit=1)[1] for line in guide_section(heading).splitlines()
             if line.startswith("export ")]
    fill = {"{NETWORK_INTERFACE}": IFACE, "{HF_CACHE_DIR}": "/mnt/hf-cache"}
    out = {}
    for line in lines:
        key, value = line.strip().split("=", 1)
        out[key] = fill.get(value, value)
    return out


def test_the_transcription_is_the_guide_s():
    common = _guide_flags("COMMON_ARGS")
    assert common.pop("--model") == [["{MODEL_PATH}"]]
    dotted = {flag.removeprefix("--compilation_config."): common.pop(flag)
              for flag in [f for f in common if f.startswith("--compilation_config.")]}
    ops = [flag.split("+=", 1)[1].split(",") for flag in dotted if flag.startswith("custom_ops+=")]
    passes = {flag.removeprefix("pass_config."): values == [["true"]] for flag, values in dotted.items()
              if flag.startswith("pass_config.")}
    assert {"custom_ops": ops[0], "pass_config": passes} == COMPILATION and len(dotted) == 1 + len(passes)
    assert common == {flag: [values] for flag, values in COMMON_ARGS.items()}
    assert _guide_flags("PREFILL_ARGS") == {flag: [values] for flag, values in PREFILL_ARGS.items()}
    decode = _guide_flags("DECODE_ARGS")
    assert json.loads(decode.pop("--compilation-config")[0][0]) == {"cudagraph_mode": "FULL_DECODE_ONLY"}
    assert decode == {flag: [values] for flag, values in DECODE_ARGS.items()}
    assert _guide_exports("System Environment") == {**SYSTEM_ENV, "NVIDIA_GDRCOPY": "1"}
    pd_env = _guide_exports("PD Disaggregation Environment (Required for all prefill/decode nodes)")
    assert pd_env.pop("VLLM_NIXL_SIDE_CHANNEL_HOST") == "$(hostname -i)"   # each node's own address
    assert {**_guide_exports("vLLM Environment"), **pd_env} == VLLM_ENV
    assert _guide_exports("Decode-Specific Environment (Optional, for performance tuning)") == DECODE_ENV


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("guide") / "out"
    result = run_cli("render", EXAMPLE, "-o", out)
    assert result.returncode == 0, result.stderr
    return out


def service(bundle, host, name):
    return load_yaml(bundle / host / "compose.yaml")["services"][name]


@pytest.mark.parametrize(("host", "name", "role", "master", "start_rank"), NODES)
def test_every_guide_flag_on_every_node(bundle, host, name, role, master, start_rank):
    svc = service(bundle, host, name)
    assert svc["entrypoint"] == ["vllm", "serve"]
    assert svc["command"][0] == MODEL
    flags = flag_values(svc["command"][1:])
    [[compilation]] = flags.pop("--compilation-config")
    assert json.loads(compilation) == (COMPILATION if role == "prefill" else DECODE_COMPILATION)
    expected = {**COMMON_ARGS, **(PREFILL_ARGS if role == "prefill" else DECODE_ARGS),
                "--data-parallel-address": [ADDR[master]], "--data-parallel-size": ["8"],
                # not in the guide: each API server listens on its host's address only, not every interface
                "--host": [ADDR[host]]}
    if start_rank:
        expected["--data-parallel-start-rank"] = [str(start_rank)]
    for flag, values in expected.items():
        assert flags.get(flag) == [values], f"{name}: {flag}: {flags.get(flag)} != {values}"
    assert set(flags) == set(expected), f"{name}: flags the guide does not have: {set(flags) - set(expected)}"
    if not start_rank:
        assert "--data-parallel-start-rank" not in flags


@pytest.mark.parametrize(("host", "name", "role", "master", "start_rank"), NODES)
def test_every_guide_env_var_on_every_node(bundle, host, name, role, master, start_rank):
    env = service(bundle, host, name)["environment"]
    expected = {**SYSTEM_ENV, **VLLM_ENV, "VLLM_NIXL_SIDE_CHANNEL_HOST": ADDR[host]}
    if role == "decode":
        expected |= DECODE_ENV
    for key, value in expected.items():
        assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}, guide: {value!r}"
    if role == "prefill":
        assert "VLLM_SHARED_EXPERTS_STREAM_TOKEN_THRESHOLD" not in env  # decode-specific in the guide
    assert "NVIDIA_GDRCOPY" not in env


def test_kv_transfer_json_is_the_guides_bytes(bundle):
    cmd = service(bundle, "gb200-n0", "prefill-0-node-0")["command"]
    kv = cmd[cmd.index("--kv-transfer-config") + 1]
    assert kv == KV_JSON
    assert json.loads(kv) == {"kv_connector": "NixlConnector", "kv_role": "kv_both", "kv_load_failure_policy": "fail"}


def test_router_command_is_the_guides(bundle):
    svc = service(bundle, "gb200-n6", "router")
    assert svc["entrypoint"] == ["vllm-router"]
    flags = flag_values(svc["command"])
    assert flags["--prefill"] == [[f"http://{ADDR[h]}:8087"] for h in ("gb200-n0", "gb200-n1", "gb200-n2", "gb200-n3")]
    assert flags["--decode"] == [[f"http://{ADDR[h]}:8087"] for h in ("gb200-n4", "gb200-n5")]
    for flag, values in {"--policy": ["round_robin"], "--vllm-pd-disaggregation": [],
                         "--max-concurrent-requests": ["9216"], "--host": ["0.0.0.0"], "--port": ["8123"],
                         "--intra-node-data-parallel-size": ["4"],
                         # not in the guide: 0.1.17 binds metrics to 127.0.0.1, which no other host can scrape
                         "--prometheus-host": [ADDR["gb200-n6"]]}.items():
        assert flags[flag] == [values], flag
    # not in the guide either: its multi-node instances' group watchdogs take a broken group out by its
    # /health, which the router's default (every 60 s, 3 failures) would notice only after ~3 minutes
    assert flags["--health-check-interval-secs"] == [["5"]]
    assert set(flags) == {"--policy", "--vllm-pd-disaggregation", "--max-concurrent-requests", "--prefill",
                          "--decode", "--host", "--port", "--intra-node-data-parallel-size", "--prometheus-host",
                          "--health-check-interval-secs"}


def test_guide_container_settings(bundle):
    svc = service(bundle, "gb200-n3", "prefill-1-node-1")
    assert svc["network_mode"] == "host" and svc["ipc"] == "host"
    assert svc["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "device_ids": ["0", "1", "2", "3"], "capabilities": ["gpu"]}]
    assert "/dev/infiniband:/dev/infiniband" in svc["devices"]
    assert "/dev/nvidia-caps-imex-channels/channel0:/dev/nvidia-caps-imex-channels/channel0" in svc["devices"]
    assert svc["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
    assert svc["volumes"] == ["/mnt/hf-cache:/mnt/hf-cache"]
    n3 = ADDR["gb200-n3"]                         # the probe follows the address the server binds
    assert svc["healthcheck"]["test"][-1].endswith(f"urlopen('http://{n3}:8087/health', timeout=4)")
    assert int(svc["healthcheck"]["start_period"].rstrip("s")) >= 1800  # real model loads take 10-60 min
    assert svc["restart"] == "no"                 # a node of a DP group cannot rejoin it alone
    assert svc["secrets"] == ["hf_token"] and svc["environment"]["HF_TOKEN_PATH"] == "/run/secrets/hf_token"


def test_the_router_node_gets_no_gpu_and_no_secret(bundle):
    doc = load_yaml(bundle / "gb200-n6" / "compose.yaml")
    assert list(doc["services"]) == ["router"]
    assert "deploy" not in doc["services"]["router"] and "secrets" not in doc
