"""What `status` makes of the group watchdogs' /state answers (pdcompose/ops/recovery.py)."""

from __future__ import annotations

from pdcompose.ops.recovery import one


def state(node: int, phase: str, reason: str = "", **more: object) -> dict:
    return {"node": node, "host": f"d{node}", "mode": "auto", "phase": phase, "reason": reason, "failures": 0,
            "retry_in": 0.0, "last_crash": None, **more}


def test_a_serving_group_is_ok():
    r = one("decode-0", [("d0", state(0, "serving")), ("d1", state(1, "serving"))])
    assert r.ok and r.state == "serving"


def test_a_group_restarting_is_recovering_with_its_step():
    r = one("decode-0", [("d0", state(0, "down", "waiting for d1 (node 1) to stop")), ("d1", state(1, "down"))])
    assert (r.state, r.detail) == ("recovering", "waiting for d1 (node 1) to stop")
    assert r.message() == "decode-0 is recovering by itself (group watchdog): waiting for d1 (node 1) to stop"


def test_a_host_gone_is_waiting_even_after_failed_starts():
    gone = "waiting for d1 (node 1): its group watchdog does not answer"
    r = one("decode-0", [("d0", state(0, "down", gone, failures=3)), ("d1", None)])
    assert (r.state, r.detail) == ("waiting", gone) and not r.ok


def test_a_silent_master_leaves_the_workers_word():
    r = one("decode-0", [("d0", None), ("d1", state(1, "down", "waiting for d0 (node 0): its group watchdog does "
                                                               "not answer"))])
    assert r.state == "waiting" and r.detail.endswith("(no answer from the watchdog on d0)")


def test_a_crash_loop_names_the_node_that_crashed_last_with_its_log():
    crash = {"exit_code": 1, "finished_at": "2026-01-01T00:00:09Z", "log": ["ERROR address already in use"]}
    older = {"exit_code": 137, "finished_at": "2026-01-01T00:00:01Z", "log": ["killed"]}
    r = one("decode-0", [("d0", state(0, "down", "node 1 on d1 went down", failures=2, retry_in=9.6,
                                      last_crash=older)),
                         ("d1", state(1, "down", last_crash=crash))])
    assert r.state == "crash loop" and r.detail == "2 failed starts in a row; next try in 10 s"
    assert r.log_of == "decode-0-node-1 on d1 (exit 1)" and r.log == ["ERROR address already in use"]
    assert r.message().splitlines() == ["decode-0 is in a crash loop: 2 failed starts in a row; next try in 10 s",
                                        "last lines of decode-0-node-1 on d1 (exit 1):",
                                        "  ERROR address already in use"]


def test_manual_mode_names_the_fix():
    r = one("decode-0", [("d0", state(0, "down", mode="manual")), ("d1", state(1, "down", mode="manual"))])
    assert r.message() == ("decode-0 is out of service (recovery: manual): run "
                           "`pdcompose restart --instance decode-0`")
