"""Real `python -m pdcompose.mock serve ...` processes on loopback: the NIXL hand-off between two of
them, DP group formation across two "nodes", the crash knob and a taken side-channel port."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from mockutil import NIXL, engine_labels

from pdcompose.mock.dp import HEARTBEAT
from pdcompose.wire.mock import MockStats

NIXL_ARGS = ("--kv-transfer-config", NIXL)


def side_channel(host: str, port: int) -> dict[str, str]:
    return {"VLLM_NIXL_SIDE_CHANNEL_HOST": host, "VLLM_NIXL_SIDE_CHANNEL_PORT": str(port)}


def stats(url: str) -> MockStats:
    return MockStats.model_validate(httpx.get(f"{url}/mock/stats", timeout=5).json())


def test_prefill_to_decode_handoff_checks_the_side_channel(spawn) -> None:
    prefill = spawn("127.0.0.201", 18201, "mock-model", *NIXL_ARGS, env=side_channel("127.0.0.201", 25601))
    # every wrong variant below would kill a vLLM 0.13.0 decode (pdcompose.mock.kvfail): the knob keeps it
    # alive, so that each one's check is classified
    decode = spawn("127.0.0.202", 18202, "mock-model", *NIXL_ARGS,
                   env={**side_channel("127.0.0.202", 25601), "PDCOMPOSE_MOCK_SURVIVE_KV_FAILURE": "1"})
    prefill.wait_health()
    decode.wait_health()
    xrid = "___prefill_addr_127.0.0.201:18201___decode_addr_127.0.0.202:18202_0123abcd"
    headers = {"X-Request-ID": xrid, "Authorization": "Bearer"}
    body = {"model": "mock-model", "prompt": "one two three", "max_tokens": 1, "min_tokens": 1,
            "kv_transfer_params": {"do_remote_decode": True, "do_remote_prefill": False}}
    params = httpx.post(f"{prefill.url}/v1/completions", json=body, headers=headers, timeout=10).json()[
        "kv_transfer_params"]
    assert (params["remote_host"], params["remote_port"]) == ("127.0.0.201", 25601)
    variants = {
        "ok": params,
        "wrong_port": {**params, "remote_port": 25650},
        "wrong_host": {**params, "remote_host": "127.0.0.209"},
        "wrong_engine": {**params, "remote_engine_id": "00000000-0000-0000-0000-000000000000"},
        "decode_itself": {**params, "remote_host": "127.0.0.202"},    # the pitfall of a shared default host
        "absent": None,
    }
    for name, kv in variants.items():
        decode_body = {"model": "mock-model", "prompt": "one two three", "max_tokens": 4, "stream": True,
                       "kv_transfer_params": kv}
        response = httpx.post(f"{decode.url}/v1/completions", json=decode_body,
                              headers={**headers, "X-Request-ID": name}, timeout=10)
        assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n"), name
    checks = {r.request_id: r.kv_check for r in stats(decode.url).records}
    assert checks == {"ok": "ok", "wrong_port": "unreachable", "wrong_host": "unreachable",
                      "wrong_engine": "engine_mismatch", "decode_itself": "engine_mismatch", "absent": "no_params"}
    decode_stats, prefill_stats = stats(decode.url), stats(prefill.url)
    assert decode_stats.kv_failures == 5 and decode_stats.by_role == {"decode": 6}
    assert prefill_stats.by_role == {"prefill": 1} and prefill_stats.kv_failures == 0
    assert prefill_stats.records[0].request_id == xrid
    assert prefill_stats.records[0].kv_transfer_params == decode_stats.records[0].kv_transfer_params


def test_dp_group_forms_across_nodes_and_follows_the_master(spawn) -> None:
    dp = ("--data-parallel-size", "4", "--data-parallel-size-local", "2", "--data-parallel-address", "127.0.0.203",
          "--data-parallel-rpc-port", "23345", "--data-parallel-hybrid-lb", *NIXL_ARGS)
    master_env = side_channel("127.0.0.203", 25603)
    master = spawn("127.0.0.203", 18203, "mock-model", *dp, env=master_env)
    master.wait_health(503)
    time.sleep(1.5)
    assert master.health() == 503, "the master must wait for ranks 2 and 3"
    worker = spawn("127.0.0.204", 18204, "mock-model", *dp, "--data-parallel-start-rank", "2",
                   env=side_channel("127.0.0.204", 25603))
    worker.wait_health(200)
    master.wait_health(200)

    assert engine_labels(httpx.get(f"{worker.url}/metrics").text) == ["0", "1"]
    body = {"prompt": "a b", "kv_transfer_params": {"do_remote_decode": True}}
    params = httpx.post(f"{worker.url}/v1/completions", json=body, headers={"x-data-parallel-rank": "1"},
                        timeout=10).json()["kv_transfer_params"]
    # vLLM listens on VLLM_NIXL_SIDE_CHANNEL_PORT + the GLOBAL DP rank: rank 3 -> 25603 + 3, not + local 1
    assert params["remote_port"] == 25606 and params["remote_engine_id"].endswith("_dp3")
    with socket.create_connection(("127.0.0.204", 25606), timeout=2) as dial:
        dial.sendall(b'{"op":"handshake"}\n')
        assert json.loads(dial.makefile().readline())["engine_id"] == params["remote_engine_id"]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.204", 25604), timeout=2):
        pass
    record = stats(worker.url).records[0]
    assert (record.local_rank, record.global_rank) == (1, 3)

    master.kill()
    worker.wait_health(503, timeout=10)
    restarted = spawn("127.0.0.203", 18203, "mock-model", *dp, env=master_env)
    restarted.wait_health(503)
    time.sleep(3 * HEARTBEAT)
    # vLLM's group does not heal (pdcompose.mock.dp): the restarted master waits for ranks that never come
    assert (restarted.health(), worker.health()) == (503, 503)


def test_dp_rejoin_knob_heals_the_group(spawn) -> None:
    dp = ("--data-parallel-size", "4", "--data-parallel-size-local", "2", "--data-parallel-address", "127.0.0.209",
          "--data-parallel-rpc-port", "23346", "--data-parallel-hybrid-lb")
    rejoin = {"PDCOMPOSE_MOCK_DP_REJOIN": "1"}
    master = spawn("127.0.0.209", 18209, "mock-model", *dp)
    worker = spawn("127.0.0.210", 18210, "mock-model", *dp, "--data-parallel-start-rank", "2", env=rejoin)
    master.wait_health(200)
    master.kill()
    worker.wait_health(503, timeout=10)
    restarted = spawn("127.0.0.209", 18209, "mock-model", *dp)
    worker.wait_health(200, timeout=20)                                  # the worker redials
    restarted.wait_health(200)


def test_crash_knob_exits_with_the_code(spawn) -> None:
    crashing = spawn("127.0.0.205", 18205, "m", env={"PDCOMPOSE_MOCK_EXIT_CODE": "7",
                                                      "PDCOMPOSE_MOCK_EXIT_AFTER": "1.5"})
    while crashing.proc.poll() is None:
        assert crashing.health() in (None, 503), "an engine that fails to start is never healthy"
        time.sleep(0.05)
    assert crashing.wait_exit() == 7
    assert "EngineCore failed to start" in crashing.stderr()


def test_taken_side_channel_port_fails_start(spawn) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.206", 25606))
        blocker.listen()
        mock = spawn("127.0.0.206", 18206, "m", *NIXL_ARGS, env=side_channel("127.0.0.206", 25606))
        assert mock.wait_exit() == 1
    assert "cannot listen on 127.0.0.206:25606" in mock.stderr()


def test_no_connector_means_no_side_channel(spawn) -> None:
    mock = spawn("127.0.0.207", 18207, "m", env=side_channel("127.0.0.207", 25607))
    mock.wait_health()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.207", 25607), timeout=2):
        pass


def test_bad_command_line_exits_2(spawn) -> None:
    mock = spawn("127.0.0.208", 18208, "m", "--kv-transfer-config", "{not json")
    assert mock.wait_exit() == 2
    assert "vllm serve: error: argument --kv-transfer-config: 1 validation error for KVTransferConfig" in mock.stderr()


def test_unknown_flag_exits_2_like_vllm(spawn) -> None:
    mock = spawn("127.0.0.208", 18208, "m", "--no-such-flag")
    assert mock.wait_exit() == 2
    assert mock.stderr().strip().endswith("vllm: error: unrecognized arguments: --no-such-flag")


def test_a_formed_group_that_loses_a_worker_stays_broken(spawn) -> None:
    """Like vLLM's: the master's engines belong to a group that lost a member, and a restarted worker cannot
    join it, so only restarting every node heals it (the group watchdog does that, master first)."""
    dp = ("--data-parallel-size", "2", "--data-parallel-size-local", "1", "--data-parallel-address", "127.0.0.211",
          "--data-parallel-rpc-port", "23347", "--data-parallel-hybrid-lb")
    master = spawn("127.0.0.211", 18211, "mock-model", *dp)
    worker = spawn("127.0.0.212", 18212, "mock-model", *dp, "--data-parallel-start-rank", "1")
    master.wait_health(200)
    worker.kill()
    master.wait_health(503, timeout=10)
    again = spawn("127.0.0.212", 18212, "mock-model", *dp, "--data-parallel-start-rank", "1")
    again.wait_health(503)
    time.sleep(3 * HEARTBEAT)
    assert (master.health(), again.health()) == (503, 503)
    again.kill()
    said = again.stderr() + again.stdout_path.read_text(errors="replace")
    assert "lost a member after it formed" in said, said
