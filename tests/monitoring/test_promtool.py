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


def test_the_alerts_fire_on_vllm_and_router_series(prometheus_image: str, rendered: Path, tmp_path: Path):
    """Series named and labelled as vLLM, NIXL and vllm-router export them, scraped with the rendered
    labels; each alert fires after its `for:` (30 s here), not before."""
    for f in rendered.rglob("*"):
        if f.is_file():
            (tmp_path / f.relative_to(rendered)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / f.relative_to(rendered)).write_bytes(f.read_bytes())
    node = 'cluster="dsr1-gb200",role="decode",instance="decode-0",node="1",host="gb200-n5"'
    engine = f'{node},engine="2",model_name="m"'
    ttft = 'cluster="dsr1-gb200",role="prefill",instance="prefill-0",node="0",host="gb200-n0",engine="0"'
    series = [
        {"series": f'up{{job="vllm",{node}}}', "values": "1 1 0x20"},
        {"series": 'vllm_router_cb_state{job="vllm-router",worker="http://10.0.0.14:8087"}', "values": "0 0 1x20"},
        {"series": f'vllm:nixl_num_failed_transfers_total{{job="vllm",{engine}}}', "values": "0 0 0 3x20"},
        {"series": f'vllm:kv_cache_usage_perc{{job="vllm",{engine}}}', "values": "0.5 0.97x20"},
        # every TTFT above 2.5 s: p99 well above the 1.5 s SLO
        *({"series": f'vllm:time_to_first_token_seconds_bucket{{job="vllm",{ttft},le="{le}"}}',
           "values": f"0+{0 if le != '+Inf' else 10}x30"} for le in ("1.0", "2.5", "5.0", "+Inf")),
    ]
    down = {"job": "vllm", "cluster": "dsr1-gb200", "role": "decode", "instance": "decode-0", "node": "1",
            "host": "gb200-n5", "severity": "critical"}

    described = {r["alert"]: r["annotations"]["description"]
                 for r in load_yaml(rendered / "rules.yml")["groups"][1]["rules"]}

    def fired(name: str, at: str, labels: dict | None, summary: str = "") -> dict:
        expected = [] if labels is None else [{"exp_labels": labels, "exp_annotations": {
            "summary": summary, "description": described[name]}}]
        return {"eval_time": at, "alertname": name, "exp_alerts": expected}

    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "5s", "tests": [{
        "interval": "5s", "input_series": series,
        "alert_rule_test": [
            fired("PdcomposeApiServerDown", "35s", None),             # down since 10 s: not yet 30 s
            fired("PdcomposeApiServerDown", "45s", down, "decode API server decode-0 node 1 on gb200-n5 is down"),
            fired("PdcomposeRouterCircuitBreakerOpen", "45s",
                  {"job": "vllm-router", "worker": "http://10.0.0.14:8087", "severity": "warning"},
                  "the router's circuit breaker is open for worker http://10.0.0.14:8087"),
            fired("PdcomposeNixlTransferFailures", "20s", {**{k: v for k, v in down.items() if k != "severity"},
                                                           "engine": "2", "model_name": "m", "severity": "warning"},
                  "NIXL KV transfers fail on decode-0 node 1 engine 2"),
            fired("PdcomposeKvCacheNearlyFull", "40s", {**{k: v for k, v in down.items() if k != "severity"},
                                                        "engine": "2", "model_name": "m", "severity": "warning"},
                  "KV cache of decode-0 node 1 engine 2 is 97% full"),
            fired("PdcomposeTtftSloBreached", "100s", {"cluster": "dsr1-gb200", "role": "prefill",
                                                       "severity": "warning"}, "TTFT p99 of prefill is 5s (SLO 1.5s)"),
        ]}]}
    (tmp_path / "alerts.test.yml").write_text(json.dumps(tests))   # JSON is YAML
    run = promtool(prometheus_image, tmp_path, "test", "rules", "/etc/pdcompose/alerts.test.yml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_rules_are_readable_yaml(rendered: Path):
    groups = load_yaml(rendered / "rules.yml")["groups"]
    alerts = [r["alert"] for r in groups[1]["rules"]]
    assert alerts == ["PdcomposeApiServerDown", "PdcomposeRouterDown", "PdcomposeRouterCircuitBreakerOpen",
                      "PdcomposeNixlTransferFailures", "PdcomposeKvCacheNearlyFull", "PdcomposeTtftSloBreached",
                      "PdcomposeItlSloBreached"]
