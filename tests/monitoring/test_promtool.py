"""Prometheus itself judges what pdcompose renders: `promtool check config` and `check rules` on the
rendered files, and `promtool test rules` proves the alerts fire on the series vLLM and the router export
(inside the Prometheus image, by docker run)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pdcompose import defaults
from pdcompose.render import render
from tests.helpers import EXAMPLE, REPO, load_yaml
from tests.monitoring.test_monitoring_plan import MONITORING, plan_of

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def prometheus_image() -> str:
    proc = subprocess.run([str(REPO / "images" / "build.sh"), "prometheus"], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return defaults.PROMETHEUS_IMAGE


def promtool(image: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "promtool",
                           "-v", f"{folder}:/etc/pdcompose:ro", "-w", "/etc/pdcompose", image, *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mon") / "out"
    render(plan_of(EXAMPLE.read_text() + MONITORING), out)
    return out / "gb200-n6" / "prometheus"


def test_promtool_accepts_the_config_and_the_rules(prometheus_image: str, rendered: Path):
    config = promtool(prometheus_image, rendered, "check", "config", "/etc/pdcompose/prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "is valid prometheus config file syntax" in config.stdout + config.stderr
    rules = promtool(prometheus_image, rendered, "check", "rules", "/etc/pdcompose/rules.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 31 rules found" in rules.stdout + rules.stderr   # 24 recordings, 7 alerts


# What an operator reads when each alert fires, written here rather than taken from the rules under test.
DESCRIPTIONS = {
    "PdcomposeApiServerDown":
        "Prometheus cannot scrape its /metrics: the container stopped, or vLLM crashed or hangs. The router "
        "keeps sending it requests until its own health checks fail; see `pdcompose status`.",
    "PdcomposeRouterDown": "Prometheus cannot scrape the router's metrics port: no request reaches the cluster.",
    "PdcomposeRouterCircuitBreakerOpen":
        "vllm-router stopped sending requests to this worker after repeated failures (0 = closed, 1 = open, "
        "2 = half-open).",
    "PdcomposeNixlTransferFailures":
        "The decode could not pull KV blocks from a prefill: requests fail or are recomputed "
        "(kv_load_failure_policy). Check the side-channel address and port, UCX_NET_DEVICES, and whether a "
        "prefill restarted under this decode (`pdcompose restart --role decode`).",
    "PdcomposeKvCacheNearlyFull":
        "New requests wait or running ones are preempted: add instances of this role or lower max-num-seqs / "
        "max-model-len.",
    "PdcomposeTtftSloBreached":
        "Time to first token is above monitoring.slo.ttft_p99: prefill is saturated (queue time), or KV "
        "transfers are slow.",
    "PdcomposeItlSloBreached":
        "Inter-token latency is above monitoring.slo.itl_p99: the decode runs too many sequences at once, or "
        "is short of KV cache.",
}


def test_the_alerts_fire_on_vllm_and_router_series(prometheus_image: str, rendered: Path, tmp_path: Path):
    """Series named and labelled as vLLM, NIXL and vllm-router export them, scraped with the rendered
    labels; each of the seven alerts fires after its `for:` (30 s here), not before, with the summary and
    description written above."""
    for f in rendered.rglob("*"):
        if f.is_file():
            (tmp_path / f.relative_to(rendered)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / f.relative_to(rendered)).write_bytes(f.read_bytes())
    node = 'cluster="dsr1-gb200",role="decode",instance="decode-0",node="1",host="gb200-n5"'
    engine = f'{node},engine="2",model_name="m"'
    router = 'cluster="dsr1-gb200",role="router",instance="router",node="0",host="gb200-n6"'
    ttft = 'cluster="dsr1-gb200",role="prefill",instance="prefill-0",node="0",host="gb200-n0",engine="0"'
    itl = 'cluster="dsr1-gb200",role="decode",instance="decode-0",node="0",host="gb200-n4",engine="1"'
    series = [
        {"series": f'up{{job="vllm",{node}}}', "values": "1 1 0x20"},
        {"series": f'up{{job="vllm-router",{router}}}', "values": "1 1 0x20"},
        {"series": 'vllm_router_cb_state{job="vllm-router",worker="http://10.0.0.14:8087"}', "values": "0 0 1x20"},
        {"series": f'vllm:nixl_num_failed_transfers_total{{job="vllm",{engine}}}', "values": "0 0 0 3x20"},
        {"series": f'vllm:kv_cache_usage_perc{{job="vllm",{engine}}}', "values": "0.5 0.97x20"},
        # every TTFT above 2.5 s: p99 well above the 1.5 s SLO
        *({"series": f'vllm:time_to_first_token_seconds_bucket{{job="vllm",{ttft},le="{le}"}}',
           "values": f"0+{0 if le != '+Inf' else 10}x30"} for le in ("1.0", "2.5", "5.0", "+Inf")),
        # every inter-token gap above 0.1 s: p99 well above the 80 ms SLO
        *({"series": f'vllm:inter_token_latency_seconds_bucket{{job="vllm",{itl},le="{le}"}}',
           "values": f"0+{0 if le != '+Inf' else 10}x30"} for le in ("0.05", "0.1", "0.25", "+Inf")),
    ]
    decode = {"job": "vllm", "cluster": "dsr1-gb200", "role": "decode", "instance": "decode-0", "node": "1",
              "host": "gb200-n5"}

    def fired(name: str, at: str, labels: dict | None = None, summary: str = "") -> dict:
        expected = [] if labels is None else [{"exp_labels": labels, "exp_annotations": {
            "summary": summary, "description": DESCRIPTIONS[name]}}]
        return {"eval_time": at, "alertname": name, "exp_alerts": expected}

    checks = [
        fired("PdcomposeApiServerDown", "35s"),                   # down since 10 s: not yet 30 s
        fired("PdcomposeApiServerDown", "45s", {**decode, "severity": "critical"},
              "decode API server decode-0 node 1 on gb200-n5 is down"),
        fired("PdcomposeRouterDown", "35s"),
        fired("PdcomposeRouterDown", "45s", {"job": "vllm-router", "cluster": "dsr1-gb200", "role": "router",
                                             "instance": "router", "node": "0", "host": "gb200-n6",
                                             "severity": "critical"}, "the router on gb200-n6 is down"),
        fired("PdcomposeRouterCircuitBreakerOpen", "35s"),
        fired("PdcomposeRouterCircuitBreakerOpen", "45s",
              {"job": "vllm-router", "worker": "http://10.0.0.14:8087", "severity": "warning"},
              "the router's circuit breaker is open for worker http://10.0.0.14:8087"),
        fired("PdcomposeNixlTransferFailures", "10s"),            # `for: 0s`: fires at the first failure
        fired("PdcomposeNixlTransferFailures", "20s", {**decode, "engine": "2", "model_name": "m",
                                                       "severity": "warning"},
              "NIXL KV transfers fail on decode-0 node 1 engine 2"),
        fired("PdcomposeKvCacheNearlyFull", "30s"),
        fired("PdcomposeKvCacheNearlyFull", "40s", {**decode, "engine": "2", "model_name": "m",
                                                    "severity": "warning"},
              "KV cache of decode-0 node 1 engine 2 is 97% full"),
        fired("PdcomposeTtftSloBreached", "100s", {"cluster": "dsr1-gb200", "role": "prefill", "severity": "warning"},
              "TTFT p99 of prefill is 5s (SLO 1.5s)"),
        fired("PdcomposeItlSloBreached", "100s", {"cluster": "dsr1-gb200", "role": "decode", "severity": "warning"},
              "inter-token latency p99 of the decode is 250ms (SLO 80ms)"),
    ]
    rules = {r["alert"] for r in load_yaml(rendered / "rules.yml")["groups"][1]["rules"]}
    assert {c["alertname"] for c in checks if c["exp_alerts"]} == rules == set(DESCRIPTIONS)
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "5s",
             "tests": [{"interval": "5s", "input_series": series, "alert_rule_test": checks}]}
    (tmp_path / "alerts.test.yml").write_text(json.dumps(tests))   # JSON is YAML
    run = promtool(prometheus_image, tmp_path, "test", "rules", "/etc/pdcompose/alerts.test.yml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_rules_are_readable_yaml(rendered: Path):
    groups = load_yaml(rendered / "rules.yml")["groups"]
    alerts = [r["alert"] for r in groups[1]["rules"]]
    assert alerts == ["PdcomposeApiServerDown", "PdcomposeRouterDown", "PdcomposeRouterCircuitBreakerOpen",
                      "PdcomposeNixlTransferFailures", "PdcomposeKvCacheNearlyFull", "PdcomposeTtftSloBreached",
                      "PdcomposeItlSloBreached"]
