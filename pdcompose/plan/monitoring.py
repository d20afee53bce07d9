"""`monitoring:` -> a Prometheus container and its files, derived from the plan's own containers.

Targets are file-based service discovery generated from the plan: every vLLM API server's /metrics
(job `vllm`) and the router's metrics port (job `vllm-router`), each labelled cluster, role, instance,
node and host; vLLM's own `engine` label carries the DP rank. The rules record per-role percentiles
and alert on what a PD deployment breaks by: an API server down, the router's circuit breaker open,
NIXL transfer failures, a nearly full KV cache, TTFT or ITL above the topology's SLOs.
"""

from __future__ import annotations

import io
import json
from typing import Any

from pdcompose import defaults
from pdcompose.plan.hosts import HostFacts
from pdcompose.plan.models import ConfigFile, Container, Healthcheck, PortUse
from pdcompose.topology import Resolved
from pdcompose.topology.monitoring import Monitoring, prom_duration

SERVICE = "prometheus"
CONFIG_DIR = "/etc/pdcompose"
CONFIG = f"{CONFIG_DIR}/prometheus.yml"
RULES = f"{CONFIG_DIR}/rules.yml"
VLLM_TARGETS = f"{CONFIG_DIR}/targets/vllm.json"
ROUTER_TARGETS = f"{CONFIG_DIR}/targets/router.json"
ENTRY_TARGETS = f"{CONFIG_DIR}/targets/entry.json"
DATA = "/var/lib/prometheus/pdcompose"

# vLLM's request histograms (vllm/v1/metrics/loggers.py) and what the rules call them.
LATENCIES = (("ttft", "vllm:time_to_first_token_seconds"), ("itl", "vllm:inter_token_latency_seconds"),
             ("e2e", "vllm:e2e_request_latency_seconds"), ("queue", "vllm:request_queue_time_seconds"))
QUANTILES = (("p50", "0.5"), ("p90", "0.9"), ("p99", "0.99"))


def recorded(kind: str, q: str, by_instance: bool = False) -> str:
    """The recorded series' name: `cluster_role:ttft_seconds:p99` (per instance: cluster_role_instance:...)."""
    return f"cluster_role{'_instance' if by_instance else ''}:{kind}_seconds:{q}"


def monitoring_host(r: Resolved) -> str:
    return r.topology.monitoring.host or r.topology.router.host


def prometheus(r: Resolved, host: HostFacts, workers: list[Container], router: Container,
               router_host: HostFacts) -> tuple[Container, list[ConfigFile]]:
    t, m = r.topology, r.topology.monitoring
    bind = host.address if t.rehearsal.enabled else "0.0.0.0"
    local = "127.0.0.1" if bind == "0.0.0.0" else bind
    image = m.image or defaults.PROMETHEUS_IMAGE
    command = [f"--config.file={CONFIG}", f"--storage.tsdb.path={DATA}",
               f"--storage.tsdb.retention.time={prom_duration(m.retention)}",
               f"--web.listen-address={_hostport(bind, m.port)}", "--web.enable-lifecycle"]
    container = Container(
        service=SERVICE, role="monitoring", image=image, entrypoint=["prometheus"], command=command,
        pull_policy="never" if t.rehearsal.enabled or not m.image else t.pull_policy, env={},
        ports=[PortUse(port=m.port, purpose="Prometheus", bind=bind)],
        url=f"http://{host.url_host}:{m.port}", health_path="/-/ready",
        healthcheck=Healthcheck(test=["CMD", "python3", "-c", (
            f"import urllib.request; urllib.request.urlopen('http://{_hostport(local, m.port)}/-/ready', "
            "timeout=4)")], interval=10, timeout=5, retries=3, start_period=30),
        restart=t.restart, stop_grace_period=30, labels={"io.pdcompose.role": "monitoring"})
    files = {
        CONFIG: _yaml(config(m, entry=t.entry is not None)),
        RULES: _yaml(rules(t.name, m, entry=t.entry is not None)),
        VLLM_TARGETS: _json(vllm_targets(t.name, workers)),
        ROUTER_TARGETS: _json(router_targets(t.name, router, router_host, t.router.prometheus_port)),
    }
    if t.entry is not None:     # the entry's exporter (plan/entry.py); plans without an entry keep their files
        files[ENTRY_TARGETS] = _json(entry_targets(t.name, router_host, t.entry.metrics_port))
    configs = [ConfigFile(name=f"prometheus-{path.rsplit('/', 1)[1].split('.')[0]}", service=SERVICE,
                          target=path, content=text) for path, text in files.items()]
    return container, configs


def config(m: Monitoring, entry: bool = False) -> dict[str, Any]:
    every = prom_duration(m.scrape_interval)
    out: dict[str, Any] = {
        "global": {"scrape_interval": every, "evaluation_interval": every,
                   "scrape_timeout": prom_duration(min(m.scrape_interval, 10_000))},
        "rule_files": [RULES],
        "scrape_configs": [
            {"job_name": "vllm", "metrics_path": "/metrics", "file_sd_configs": [{"files": [VLLM_TARGETS]}]},
            {"job_name": "vllm-router", "metrics_path": "/metrics",
             "file_sd_configs": [{"files": [ROUTER_TARGETS]}]},
        ],
    }
    if entry:
        out["scrape_configs"].append({"job_name": "pdcompose-entry", "metrics_path": "/metrics",
                                      "file_sd_configs": [{"files": [ENTRY_TARGETS]}]})
    return out


def vllm_targets(cluster: str, workers: list[Container]) -> list[dict[str, Any]]:
    return [{"targets": [c.url.removeprefix("http://")],
             "labels": {"cluster": cluster, "role": c.role, "instance": f"{c.role}-{c.instance}",
                        "node": str(c.node), "host": c.labels["io.pdcompose.host"], "service": c.service}}
            for c in workers]


def router_targets(cluster: str, router: Container, host: HostFacts, port: int) -> list[dict[str, Any]]:
    return [{"targets": [f"{host.url_host}:{port}"],
             "labels": {"cluster": cluster, "role": "router", "instance": "router", "node": "0",
                        "host": host.name, "service": router.service}}]


def entry_targets(cluster: str, host: HostFacts, port: int) -> list[dict[str, Any]]:
    return [{"targets": [f"{host.url_host}:{port}"],
             "labels": {"cluster": cluster, "role": "entry", "instance": "entry", "node": "0",
                        "host": host.name, "service": "entry"}}]


def _window(m: Monitoring) -> str:
    # rate() needs at least two samples: four scrapes, and never less than a minute.
    return prom_duration(max(60_000, 4 * m.scrape_interval))


def rules(cluster: str, m: Monitoring, entry: bool = False) -> dict[str, Any]:
    w, hold = _window(m), prom_duration(m.alert_for)
    records = []
    for kind, metric in LATENCIES:
        for by_instance in (False, True):
            keys = "cluster, role, instance, le" if by_instance else "cluster, role, le"
            for q, value in QUANTILES:
                records.append({"record": recorded(kind, q, by_instance), "expr": (
                    f"histogram_quantile({value}, sum by ({keys}) (rate({metric}_bucket[{w}])))")})
    alerts: list[dict[str, Any]] = [
        _alert("PdcomposeApiServerDown", 'up{job="vllm"} == 0', hold, "critical",
               "{{ $labels.role }} API server {{ $labels.instance }} node {{ $labels.node }} on "
               "{{ $labels.host }} is down",
               "Prometheus cannot scrape its /metrics: the container stopped, or vLLM crashed or hangs. The "
               "router keeps sending it requests until its own health checks fail; see `pdcompose status`."),
        _alert("PdcomposeRouterDown", 'up{job="vllm-router"} == 0', hold, "critical",
               "the router on {{ $labels.host }} is down",
               "Prometheus cannot scrape the router's metrics port: no request reaches the cluster."),
        _alert("PdcomposeRouterCircuitBreakerOpen", "vllm_router_cb_state == 1", hold, "warning",
               "the router's circuit breaker is open for worker {{ $labels.worker }}",
               "vllm-router stopped sending requests to this worker after repeated failures "
               "(0 = closed, 1 = open, 2 = half-open)."),
        _alert("PdcomposeNixlTransferFailures", f"increase(vllm:nixl_num_failed_transfers_total[{w}]) > 0",
               "0s", "warning",
               "NIXL KV transfers fail on {{ $labels.instance }} node {{ $labels.node }} engine "
               "{{ $labels.engine }}",
               "The decode could not pull KV blocks from a prefill: requests fail or are recomputed "
               "(kv_load_failure_policy). Check the side-channel address and port, UCX_NET_DEVICES, and "
               "whether a prefill restarted under this decode (`pdcompose restart --role decode`)."),
        _alert("PdcomposeKvCacheNearlyFull", f"vllm:kv_cache_usage_perc > {m.kv_cache_alert:g}", hold, "warning",
               "KV cache of {{ $labels.instance }} node {{ $labels.node }} engine {{ $labels.engine }} "
               "is {{ $value | humanizePercentage }} full",
               "New requests wait or running ones are preempted: add instances of this role or lower "
               "max-num-seqs / max-model-len."),
    ]
    if m.slo.ttft_p99 is not None:
        slo = m.slo.ttft_p99 / 1000
        alerts.append(_alert("PdcomposeTtftSloBreached", f"{recorded('ttft', 'p99')} > {slo:g}", hold, "warning",
                             "TTFT p99 of {{ $labels.role }} is {{ $value | humanizeDuration }} (SLO "
                             f"{_human(m.slo.ttft_p99)})",
                             "Time to first token is above monitoring.slo.ttft_p99: prefill is saturated "
                             "(queue time), or KV transfers are slow."))
    if m.slo.itl_p99 is not None:
        slo = m.slo.itl_p99 / 1000
        alerts.append(_alert("PdcomposeItlSloBreached", f'{recorded("itl", "p99")}{{role="decode"}} > {slo:g}',
                             hold, "warning",
                             "inter-token latency p99 of the decode is {{ $value | humanizeDuration }} (SLO "
                             f"{_human(m.slo.itl_p99)})",
                             "Inter-token latency is above monitoring.slo.itl_p99: the decode runs too many "
                             "sequences at once, or is short of KV cache."))
    if entry:
        alerts.insert(2, _alert("PdcomposeEntryDown", 'up{job="pdcompose-entry"} == 0 or nginx_up == 0', hold,
                                "critical", "the entry (TLS door) on {{ $labels.host }} is down",
                                "Its exporter does not answer, or cannot read nginx's stub_status: clients "
                                "cannot reach the router. See `pdcompose status` and the entry's logs."))
    return {"groups": [{"name": f"pdcompose-{cluster}-latency", "rules": records},
                       {"name": f"pdcompose-{cluster}-alerts", "rules": alerts}]}


def _alert(name: str, expr: str, hold: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {"alert": name, "expr": expr, "for": hold, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def _human(ms: int) -> str:
    return f"{ms / 1000:g}s" if ms >= 1000 else f"{ms}ms"


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _yaml(data: dict[str, Any]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096   # one rule per line: easier to read and diff
    # keep the order written
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # ruamel declares it None-typed
    out = io.StringIO()
    yaml.dump(data, out)
    return "# Generated by pdcompose from the topology: edit it and re-render, not this file.\n" + out.getvalue()


def _json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


__all__ = ["SERVICE", "monitoring_host", "prometheus", "recorded"]
