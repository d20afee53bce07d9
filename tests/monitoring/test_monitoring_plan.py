"""`monitoring:` in the plan: off by default (bundles unchanged), else a Prometheus on the router's host
(or the chosen one) whose file-based targets are exactly the plan's API servers and router, labelled
cluster, role, instance, node and host; durations are Prometheus's."""

from __future__ import annotations

import json

import pytest

from pdcompose import topology
from pdcompose.plan import build_plan
from pdcompose.plan.monitoring import recorded
from pdcompose.render import render_files
from tests.helpers import EXAMPLE

MONITORING = ("\nmonitoring:\n  enabled: true\n  scrape_interval: 5s\n  alert_for: 30s\n"
              "  slo: {ttft_p99: 1.5s, itl_p99: 80ms}\n")


def plan_of(text: str, rehearsal: bool = False):
    plan, _ = build_plan(topology.from_text(text, "t.yaml", EXAMPLE.parent), rehearsal=rehearsal)
    return plan


def example(extra: str = "") -> str:
    return EXAMPLE.read_text() + extra


def test_off_by_default_nothing_changes():
    plan = plan_of(example())
    assert all(c.role != "monitoring" for _, c in plan.containers())
    # The only configs are the group watchdogs' (their code and group file), none of monitoring's
    watchdogs = {c.service for _, c in plan.containers() if c.role == "watchdog"}
    assert watchdogs and all(any(cfg.name.startswith(f"{w}-") for w in watchdogs)
                             for h in plan.hosts for cfg in h.configs)


def test_prometheus_on_the_router_host_scrapes_every_api_server_and_the_router():
    plan = plan_of(example(MONITORING))
    [(host, prom)] = plan.containers("monitoring")
    assert host.name == plan.router.host == "gb200-n6"
    assert prom.url == "http://10.0.0.16:9090" and prom.health_path == "/-/ready"
    assert "--web.listen-address=0.0.0.0:9090" in prom.command
    files = {c.target: c.content for c in host.configs}
    vllm = json.loads(files["/etc/pdcompose/targets/vllm.json"])
    workers = plan.workers()
    assert [t["targets"] for t in vllm] == [[c.url.removeprefix("http://")] for _, c in workers]
    assert {t["targets"][0]: t["labels"] for t in vllm}["10.0.0.11:8087"] == {
        "cluster": "dsr1-gb200", "role": "prefill", "instance": "prefill-0", "node": "1", "host": "gb200-n1",
        "service": "prefill-0-node-1"}
    router = json.loads(files["/etc/pdcompose/targets/router.json"])
    assert router == [{"targets": ["10.0.0.16:29000"], "labels": {
        "cluster": "dsr1-gb200", "role": "router", "instance": "router", "node": "0", "host": "gb200-n6",
        "service": "router"}}]
    # the router's metrics listen where Prometheus dials them
    assert "--prometheus-host" in plan.host("gb200-n6").containers[0].command
    assert "scrape_interval: 5s" in files["/etc/pdcompose/prometheus.yml"]
    rules = files["/etc/pdcompose/rules.yml"]
    assert f"{recorded('ttft', 'p99')} > 1.5" in rules and 'itl_seconds:p99{role="decode"} > 0.08' in rules
    assert "for: 30s" in rules


def test_monitoring_host_can_be_chosen_and_rehearsal_binds_its_loopback_address():
    plan = plan_of(example(MONITORING + "  host: gb200-n0\n"), rehearsal=True)
    [(host, prom)] = plan.containers("monitoring")
    assert host.name == "gb200-n0"
    assert f"--web.listen-address={host.address}:9090" in prom.command
    assert prom.pull_policy == "never"
    assert plan.workers() and all(c.role in ("prefill", "decode") for _, c in plan.workers())


def test_rendered_bundle_carries_the_files_inline_and_beside_it():
    plan = plan_of(example(MONITORING))
    files = render_files(plan)
    compose = files["gb200-n6/compose.yaml"].decode()
    assert '"prometheus":' in compose and "configs:" in compose and "$$labels" in compose   # `$` kept from Compose
    assert {"gb200-n6/prometheus/prometheus.yml", "gb200-n6/prometheus/rules.yml",
            "gb200-n6/prometheus/targets/vllm.json", "gb200-n6/prometheus/targets/router.json"} <= set(files)
    assert not any(name.startswith("gb200-n0/prometheus") for name in files)


@pytest.mark.parametrize(("written", "ms"), [("500ms", 500), ("1.5s", 1500), ("15s", 15000), ("2m", 120000),
                                             ("1h", 3600000), (2, 2000), (0.25, 250)])
def test_durations(written, ms):
    text = example(f"\nmonitoring:\n  enabled: true\n  slo: {{ttft_p99: {json.dumps(written)}}}\n")
    plan = plan_of(text)
    rules = plan.host("gb200-n6").configs[1].content
    assert f"SLO {ms / 1000:g}s" in rules or f"SLO {ms}ms" in rules


@pytest.mark.parametrize("written", ["fast", "10 minutes", "-1s", "0s", "1.5ms", "8d", True])
def test_bad_durations_are_refused(written):
    from pdcompose.errors import TopologyError
    text = example(f"\nmonitoring:\n  enabled: true\n  scrape_interval: {json.dumps(written)}\n")
    with pytest.raises(TopologyError, match="is not a duration"):
        plan_of(text)
