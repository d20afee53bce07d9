"""The Grafana dashboard and its provisioning files: rendered beside the monitoring host's bundle, built
with grafana-foundation-sdk's typed builders, one row per role, `cluster` and `instance` variables, every
panel on the provisioned Prometheus data source, every metric one vLLM, NIXL or vllm-router exports."""

from __future__ import annotations

import json
import re

from pdcompose.render import render_files
from pdcompose.render.grafana import DATASOURCE_UID, FOLDER
from tests.monitoring.test_monitoring_plan import MONITORING, example, plan_of

KNOWN = {  # vLLM (loggers.py), NIXL (nixl_connector.py), vllm-router (src/metrics.rs), Prometheus
    "vllm:time_to_first_token_seconds_bucket", "vllm:request_queue_time_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket", "vllm:nixl_xfer_time_seconds_bucket",
    "vllm:nixl_num_failed_transfers_total", "vllm:kv_cache_usage_perc", "vllm:num_requests_running",
    "vllm:num_requests_waiting", "vllm_router_pd_requests_total", "vllm_router_requests_total",
    "vllm_router_cb_state", "up"}


def test_dashboard_and_provisioning_rendered_with_monitoring_only():
    assert not any("grafana" in name for name in render_files(plan_of(example())))
    plan = plan_of(example(MONITORING))
    files = render_files(plan)
    board = json.loads(files["gb200-n6/grafana/dashboards/pdcompose-dsr1-gb200.json"])
    datasource = json.loads(files["gb200-n6/grafana/provisioning/datasources/pdcompose.yaml"])   # JSON is YAML
    provider = json.loads(files["gb200-n6/grafana/provisioning/dashboards/pdcompose.yaml"])
    assert datasource["datasources"][0] | {"url": "http://10.0.0.16:9090", "uid": DATASOURCE_UID} \
        == datasource["datasources"][0]
    assert provider["providers"][0]["options"]["path"] == FOLDER

    assert board["uid"] == "pdcompose-dsr1-gb200" and board["title"] == "pdcompose: dsr1-gb200"
    assert [v["name"] for v in board["templating"]["list"]] == ["cluster", "instance"]
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Router", "Prefill", "Decode"]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 12
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    for p in panels:
        assert p["datasource"]["uid"] == DATASOURCE_UID and p["targets"]
    names = {m for e in exprs for m in re.findall(r"(vllm[:_][a-z_:]+|\bup)\{", e)}
    assert names <= KNOWN, names - KNOWN
    assert any("role=\"prefill\"" in e and "time_to_first_token" in e for e in exprs)
    assert any("role=\"decode\"" in e and "inter_token_latency" in e for e in exprs)
