"""`pdcompose top`'s arithmetic: the text format parsed, histogram_quantile's interpolation, rates over the
interval between two samples, the router's PD counters; and the source chosen from the plan."""

from __future__ import annotations

import math

import pytest

from pdcompose.ops.top import DirectSource, NodeRow, PrometheusSource, parse, prometheus_of, quantile, source_for
from tests.monitoring.test_monitoring_plan import MONITORING, example, plan_of

VLLM = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
vllm:num_requests_running{engine="1",model_name="m"} 1.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5
vllm:time_to_first_token_seconds_bucket{engine="0",model_name="m",le="0.1"} %d
vllm:time_to_first_token_seconds_bucket{engine="0",model_name="m",le="1.0"} %d
vllm:time_to_first_token_seconds_bucket{engine="0",model_name="m",le="+Inf"} %d
vllm:e2e_request_latency_seconds_count{engine="0",model_name="m"} %d
vllm:nixl_num_failed_transfers_total{engine="0",model_name="m"} 3.0
"""


def test_parse_and_quantile():
    s = parse(VLLM % (90, 100, 100, 100) + 'odd{a="x \\" y"} 1\nbroken line\n')
    assert s["odd"] == [({"a": 'x " y'}, 1.0)]
    assert quantile(0.5, {0.1: 90, 1.0: 100, math.inf: 100}) == pytest.approx(0.1 * 50 / 90)
    assert quantile(0.99, {0.1: 90, 1.0: 100, math.inf: 100}) == pytest.approx(0.1 + 0.9 * 9 / 10)
    assert quantile(0.99, {0.1: 0, math.inf: 0}) is None
    assert quantile(0.99, {0.1: 0, 1.0: 0, math.inf: 5}) == 1.0        # all above the last bound


def test_rates_and_percentiles_cover_the_last_interval():
    row = NodeRow(role="decode", instance="decode-0", node=0, host="h", url="u")
    first = parse(VLLM % (90, 100, 100, 100))
    DirectSource._fill(row, first, None, 100.0)
    assert (row.running, row.kv_usage, row.nixl_failures, row.request_rate) == (3.0, 0.5, 3.0, None)
    assert row.ttft_p99 == pytest.approx(0.91)
    DirectSource._fill(row, parse(VLLM % (90, 110, 110, 120)), (100.0, first), 102.0)
    assert row.request_rate == 10.0                    # 20 more requests in 2 s
    assert row.ttft_p99 == pytest.approx(0.1 + 0.9 * 9.9 / 10)   # only the last 10, all between 0.1 and 1


def test_router_counts_pd_requests_and_errors():
    row = NodeRow(role="router", instance="router", node=0, host="r", url="u")
    text = 'vllm_router_pd_requests_total{route="/v1/completions"} 31\nvllm_router_pd_errors_total{x="y"} 2\n'
    DirectSource._fill(row, parse(text), None, 1.0)
    assert (row.requests, row.errors) == (31.0, 2.0)


def test_source_follows_the_plan():
    plain = plan_of(example())
    assert prometheus_of(plain) is None and isinstance(source_for(plain), DirectSource)
    watched = plan_of(example(MONITORING))
    assert prometheus_of(watched) == ("http://10.0.0.16:9090", "20s")       # 4 scrapes of 5 s
    assert isinstance(source_for(watched), PrometheusSource)
    assert isinstance(source_for(watched, direct=True), DirectSource)
    targets = [url for _, url in DirectSource(plain).targets()]
    assert targets[-1] == "http://10.0.0.16:29000/metrics" and "http://10.0.0.10:8087/metrics" in targets
