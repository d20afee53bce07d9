"""Pairing logic on hand-made `/mock/stats` JSON: paired, lost, duplicated, mismatched, KV failures."""

from __future__ import annotations

import pytest

from pdcompose.bench.pairing import PairingError, check_pairing, fetch_stats, stats_url, trace_id
from pdcompose.wire.mock import MockStats


def tp(n: int) -> str:
    return f"00-{n:032x}-{n:016x}-01"


def kv(engine: str, n: int) -> dict:
    return {"do_remote_prefill": True, "do_remote_decode": False, "remote_block_ids": [[n, n + 1]],
            "remote_engine_id": engine, "remote_request_id": f"cmpl-r{n}-0", "remote_host": "p0",
            "remote_port": 5600, "tp_size": 1}


def rec(role: str, n: int | None, rid: str, params, kv_check: str | None = None, status: int = 200) -> dict:
    return {"t": 1.0, "path": "/v1/completions", "role": role, "request_id": rid,
            "traceparent": None if n is None else tp(n), "rank_header": None, "local_rank": 0,
            "global_rank": 0, "stream": role == "decode", "prompt_tokens": 8,
            "completion_tokens": 1 if role == "prefill" else 3, "kv_transfer_params": params,
            "kv_check": kv_check, "status": status}


def stats(records: list[dict], dropped: int = 0) -> MockStats:
    return MockStats.model_validate({
        "ready": True, "engine_ids": ["e"], "requests": len(records), "by_role": {}, "by_rank": {},
        "kv_checks": {}, "kv_failures": 0, "errors": 0, "records_dropped": dropped, "records": records})


def pair(n: int, engine: str = "eng-p0") -> tuple[dict, dict]:
    rid = f"___prefill_addr_p0:8000___decode_addr_d0:8000_{n:032x}"
    return rec("prefill", n, rid, kv(engine, n)), rec("decode", n, rid, kv(engine, n), "ok")


def test_all_paired_across_two_prefills_and_one_decode() -> None:
    p1, d1 = pair(1)
    p2, d2 = pair(2, engine="eng-p1")
    report = check_pairing([tp(1), tp(2)], {"http://p0:8000": stats([p1]), "http://p1:8000": stats([p2]),
                                            "http://d0:8000": stats([d1, d2])})
    assert report.ok and report.checked == report.paired == 2
    assert report.by_worker == {"http://d0:8000": {"prefill": 0, "decode": 2},
                                "http://p0:8000": {"prefill": 1, "decode": 0},
                                "http://p1:8000": {"prefill": 1, "decode": 0}}
    assert report.samples == [] and report.unknown_records == 0


def test_every_failure_kind_is_counted_once() -> None:
    p_ok, d_ok = pair(1)
    p_lost, _ = pair(2)                                   # decode leg never recorded
    p_dup, d_dup = pair(3)                                # prefill seen twice
    p_mm, d_mm = pair(4)
    d_mm = d_mm | {"request_id": "something-else"}        # legs of different router requests
    p_kv, d_kv = pair(5)
    d_kv = d_kv | {"kv_transfer_params": kv("eng-other", 5)}
    p_chk, d_chk = pair(6)
    d_chk = d_chk | {"kv_check": "engine_mismatch"}
    stray = rec("decode", 99, "x", None, "no_params")     # not sent by this run
    untraced = rec("decode", None, "y", None, "no_params")
    report = check_pairing(
        [tp(i) for i in range(1, 7)] + [tp(7)],           # 7: never reached any worker
        {"p": stats([p_ok, p_lost, p_dup, p_dup, p_mm, p_kv, p_chk]),
         "d": stats([d_ok, d_dup, d_mm, d_kv, d_chk, stray, untraced])})
    assert (report.checked, report.paired, report.lost, report.duplicated, report.mismatched,
            report.kv_mismatched, report.kv_check_failed) == (7, 1, 2, 1, 1, 1, 1)
    assert report.unknown_records == 2 and not report.ok
    assert len(report.samples) == 6
    assert any(s.startswith(f"trace {7:032x}: lost: 0 prefill and 0 decode") for s in report.samples)
    assert any("X-Request-ID" in s and "something-else" in s for s in report.samples)
    assert any("engine_mismatch" in s for s in report.samples)


def test_duplicated_decode_and_dropped_records_make_it_inconclusive() -> None:
    p, d = pair(1)
    assert check_pairing([tp(1)], {"p": stats([p]), "d": stats([d, d])}).duplicated == 1
    report = check_pairing([tp(1)], {"p": stats([p]), "d": stats([d], dropped=5)})
    assert report.paired == 1 and report.records_dropped == 5 and not report.ok


def test_plain_worker_without_router_has_no_prefill_leg() -> None:
    d = rec("decode", 1, "r", None, "no_params")
    report = check_pairing([tp(1)], {"w": stats([d])})
    assert report.lost == 1 and not report.ok


def test_nothing_checked_is_not_ok() -> None:
    assert not check_pairing([], {"w": stats([])}).ok


def test_trace_id_ignores_span_and_case() -> None:
    tid = "abcdef0123456789abcdef0123456789"
    assert trace_id(f"00-{tid.upper()}-0000000000000001-01") == tid
    p, d = pair(1)
    d = d | {"traceparent": tp(1)[:36] + "ffffffffffffffff-01"}     # same trace, child span
    assert check_pairing([tp(1)], {"p": stats([p]), "d": stats([d])}).paired == 1


def test_stats_url() -> None:
    assert stats_url("http://w:8000/") == "http://w:8000/mock/stats"
    assert stats_url("http://w:8000/mock/stats") == "http://w:8000/mock/stats"


def test_unreachable_worker_raises_pairing_error() -> None:
    with pytest.raises(PairingError, match=r"http://127\.0\.0\.1:9/mock/stats: cannot read mock stats"):
        fetch_stats(["http://127.0.0.1:9"], timeout=2)
