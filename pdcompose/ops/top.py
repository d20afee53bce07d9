"""`pdcompose top`: per-node figures of a running deployment, from Prometheus when the plan has one,
else straight from every API server's and the router's /metrics.

Scraped directly, percentiles and rates cover the time since the previous sample (the first sample:
since each process started); from Prometheus they cover its rate window. Metric names are vLLM's
(vllm/v1/metrics/loggers.py, NIXL's connector) and vllm-router's (src/metrics.rs).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

import httpx

from pdcompose.engine.access import Access
from pdcompose.engine.inside import Request
from pdcompose.errors import PdcomposeError
from pdcompose.plan.models import Container, Host, Plan

Labels = tuple[tuple[str, str], ...]
Samples = dict[str, list[tuple[dict[str, str], float]]]

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
TTFT = "vllm:time_to_first_token_seconds"
ITL = "vllm:inter_token_latency_seconds"
E2E = "vllm:e2e_request_latency_seconds"
NIXL_XFER = "vllm:nixl_xfer_time_seconds"
NIXL_FAILED = "vllm:nixl_num_failed_transfers_total"
# vllm-router 0.1.17 counts PD requests in the pd_ series (vllm_router_requests_total stays for other modes)
ROUTER_REQUESTS = ("vllm_router_pd_requests_total", "vllm_router_requests_total")
ROUTER_ERRORS = ("vllm_router_pd_errors_total", "vllm_router_request_errors_total")
# The entry's exporter (prometheus-nginx-exporter): every request nginx served, its probes' included.
ENTRY_REQUESTS = "nginx_http_requests_total"


@dataclass
class NodeRow:
    role: str
    instance: str               # prefill-0, decode-1, router
    node: int
    host: str
    url: str
    up: bool = False
    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None      # the fullest engine's, 0-1
    ttft_p99: float | None = None      # seconds
    itl_p99: float | None = None
    request_rate: float | None = None  # finished requests per second
    requests: float | None = None      # finished requests since start (router: all it received)
    errors: float | None = None        # router: request errors since start
    nixl_transfers: float | None = None
    nixl_failures: float | None = None


@dataclass
class Snapshot:
    source: str                        # "prometheus" or "metrics"
    at: float
    rows: list[NodeRow] = field(default_factory=list)
    prometheus: str | None = None

    def to_json(self) -> dict:
        return {"source": self.source, "time": self.at, "prometheus": self.prometheus,
                "rows": [asdict(r) for r in self.rows]}


def parse(text: str) -> Samples:
    """Prometheus text exposition -> {name: [(labels, value)]} (comments and malformed lines skipped)."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        out.setdefault(m.group(1), []).append((labels, value))
    return out


def total(samples: Samples, name: str) -> float | None:
    values = [v for _, v in samples.get(name, [])]
    return sum(values) if values else None


def buckets(samples: Samples, name: str) -> dict[float, float]:
    """A histogram's cumulative buckets summed over engines: {le: count}."""
    out: dict[float, float] = {}
    for labels, value in samples.get(f"{name}_bucket", []):
        le = math.inf if labels.get("le") == "+Inf" else float(labels.get("le", "nan"))
        out[le] = out.get(le, 0.0) + value
    return out


def quantile(q: float, cumulative: dict[float, float]) -> float | None:
    """histogram_quantile's interpolation over cumulative buckets; None without observations."""
    items = sorted(cumulative.items())
    if not items or items[-1][1] <= 0:
        return None
    rank, prev_le, prev_count = q * items[-1][1], 0.0, 0.0
    for le, count in items:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def _delta(now: dict[float, float], before: dict[float, float] | None) -> dict[float, float]:
    if not before:
        return now
    diff = {le: now[le] - before.get(le, 0.0) for le in now}
    return now if any(v < 0 for v in diff.values()) else diff       # a restart reset the counters


class DirectSource:
    """Scrapes every API server's /metrics and the router's metrics port, keeping the previous sample
    so rates and percentiles cover the last interval."""

    def __init__(self, plan: Plan, timeout: float = 2.0, access: Access | None = None) -> None:
        self.plan, self.timeout, self.access = plan, timeout, access
        self._before: dict[str, tuple[float, Samples]] = {}

    def targets(self) -> list[tuple[NodeRow, str]]:
        out = []
        for h, c in self.plan.workers():
            out.append((_row(c, h.name), f"{c.url}/metrics"))
        router_host = self.plan.host(self.plan.router.host)
        router = next(c for c in router_host.containers if c.role == "router")
        port = _router_metrics_port(router)
        host = f"[{router_host.address}]" if ":" in router_host.address else router_host.address
        out.append((NodeRow(role="router", instance="router", node=0, host=router_host.name, url=router.url),
                    f"http://{host}:{port}/metrics"))
        if self.plan.entry is not None:     # its exporter's metrics (cluster only): nginx's own counters
            out.append((_entry_row(self.plan), f"{self.plan.entry.metrics_url}/metrics"))
        return out

    def sample(self) -> Snapshot:
        from pdcompose.engine.fanout import each

        targets = self.targets()
        texts = (each(lambda t: self._get(t[1]), targets) if self.access is None
                 else self._through(self.access, targets))
        now = time.time()
        rows = []
        for (row, url), text in zip(targets, texts, strict=True):
            if text is not None:
                samples = parse(text)
                before = self._before.get(url)
                self._fill(row, samples, before, now)
                self._before[url] = (now, samples)
            rows.append(row)
        return Snapshot(source="metrics", at=now, rows=rows)

    def _through(self, access: Access, targets: list[tuple[NodeRow, str]]) -> list[str | None]:
        """Every target's /metrics by way of engine/access: one fetch per host (direct or through its context)."""
        from pdcompose.engine.fanout import each

        hosts = [h for h in self.plan.hosts if any(row.host == h.name for row, _ in targets)]

        def one(host: Host) -> dict[str, str | None]:
            urls = [url for row, url in targets if row.host == host.name]
            try:
                answers = access.fetch(host, [Request(u, timeout=self.timeout) for u in urls],
                                       via=host.containers[0].service)
            except PdcomposeError:
                return dict.fromkeys(urls)
            return {u: a.body.decode(errors="replace") if a.status == 200 else None
                    for u, a in zip(urls, answers, strict=True)}

        texts: dict[str, str | None] = {}
        for found in each(one, hosts):
            texts |= found
        return [texts.get(url) for _, url in targets]

    def _get(self, url: str) -> str | None:
        try:
            response = httpx.get(url, timeout=self.timeout)
        except httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None

    @staticmethod
    def _fill(row: NodeRow, s: Samples, before: tuple[float, Samples] | None, now: float) -> None:
        row.up = True
        prev = before[1] if before else None
        elapsed = now - before[0] if before else None
        if row.role == "entry":
            row.up = total(s, "nginx_up") == 1
            row.running = total(s, "nginx_connections_active")
            row.requests = total(s, ENTRY_REQUESTS)
            if prev is not None and elapsed and row.requests is not None:
                row.request_rate = max(0.0, row.requests - (total(prev, ENTRY_REQUESTS) or 0)) / elapsed
            return
        if row.role == "router":
            row.requests = _first(s, ROUTER_REQUESTS)
            row.errors = _sum(s, ROUTER_ERRORS) or 0.0
            if prev is not None and elapsed and row.requests is not None:
                row.request_rate = max(0.0, row.requests - (_first(prev, ROUTER_REQUESTS) or 0)) / elapsed
            return
        row.running = total(s, "vllm:num_requests_running")
        row.waiting = total(s, "vllm:num_requests_waiting")
        kv = [v for _, v in s.get("vllm:kv_cache_usage_perc", [])]
        row.kv_usage = max(kv) if kv else None
        row.ttft_p99 = quantile(0.99, _delta(buckets(s, TTFT), buckets(prev, TTFT) if prev else None))
        row.itl_p99 = quantile(0.99, _delta(buckets(s, ITL), buckets(prev, ITL) if prev else None))
        row.requests = total(s, f"{E2E}_count")
        if prev is not None and elapsed and row.requests is not None:
            row.request_rate = max(0.0, row.requests - (total(prev, f"{E2E}_count") or 0)) / elapsed
        row.nixl_transfers = total(s, f"{NIXL_XFER}_count")
        row.nixl_failures = total(s, NIXL_FAILED)


class PrometheusSource:
    """The same figures through PromQL, per (role, instance, node) as the plan's targets label them."""

    def __init__(self, plan: Plan, url: str, window: str, timeout: float = 3.0, access: Access | None = None) -> None:
        self.plan, self.url, self.window, self.timeout, self.access = plan, url, window, timeout, access

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=self.timeout)
        response.raise_for_status()
        return self._results(response.content)

    def queries(self, exprs: list[str]) -> list[list[tuple[dict[str, str], float]]]:
        """Every query at once: in parallel when direct, in one fetch on Prometheus's host otherwise."""
        from pdcompose.engine.fanout import each

        if self.access is None:
            return each(self.query, exprs)
        host, service = next((h, c.service) for h, c in self.plan.containers("monitoring"))
        requests = [Request(f"{self.url}/api/v1/query?{urlencode({'query': e})}", timeout=self.timeout) for e in exprs]
        try:
            answers = self.access.fetch(host, requests, via=service)
        except PdcomposeError as exc:
            raise ValueError(str(exc)) from None          # top falls back to the nodes' /metrics
        for a in answers:
            if a.status != 200:
                raise ValueError(f"Prometheus answered {a.status or a.error}")
        return [self._results(a.body) for a in answers]

    @staticmethod
    def _results(body: bytes) -> list[tuple[dict[str, str], float]]:
        out = []
        for item in json.loads(body)["data"]["result"]:
            value = float(item["value"][1])
            if not math.isnan(value):
                out.append((item["metric"], value))
        return out

    def sample(self) -> Snapshot:
        w, by = self.window, "by (role, instance, node)"
        queries = {
            "up": f'max {by} (up{{role!="entry"}}) or max {by} (nginx_up)',   # the entry: nginx, not its exporter
            "running": f"sum {by} (vllm:num_requests_running) or sum {by} (nginx_connections_active)",
            "waiting": f"sum {by} (vllm:num_requests_waiting)",
            "kv_usage": f"max {by} (vllm:kv_cache_usage_perc)",
            "ttft_p99": f"histogram_quantile(0.99, sum by (role, instance, node, le) (rate({TTFT}_bucket[{w}])))",
            "itl_p99": f"histogram_quantile(0.99, sum by (role, instance, node, le) (rate({ITL}_bucket[{w}])))",
            "request_rate": " or ".join(f"sum {by} (rate({m}[{w}]))" for m in (f"{E2E}_count", *ROUTER_REQUESTS,
                                                                                 ENTRY_REQUESTS)),
            "requests": " or ".join(f"sum {by} ({m})" for m in (f"{E2E}_count", *ROUTER_REQUESTS, ENTRY_REQUESTS)),
            "errors": f"sum {by} ({' or '.join(ROUTER_ERRORS)}) or sum {by} (up{{role=\"router\"}} * 0)",
            "nixl_transfers": f"sum {by} ({NIXL_XFER}_count)",
            "nixl_failures": f"sum {by} ({NIXL_FAILED})",
        }
        names = list(queries)
        results = self.queries([queries[n] for n in names])
        rows = {(r.role, r.instance, str(r.node)): r for r in _plan_rows(self.plan)}
        for name, result in zip(names, results, strict=True):
            for labels, value in result:
                row = rows.get((labels.get("role", ""), labels.get("instance", ""), labels.get("node", "")))
                if row is not None:
                    setattr(row, name, bool(value) if name == "up" else value)
        return Snapshot(source="prometheus", at=time.time(), rows=list(rows.values()), prometheus=self.url)


def _first(s: Samples, names: tuple[str, ...]) -> float | None:
    return next((v for v in (total(s, n) for n in names) if v is not None), None)


def _sum(s: Samples, names: tuple[str, ...]) -> float | None:
    values = [v for v in (total(s, n) for n in names) if v is not None]
    return sum(values) if values else None


def _row(c: Container, host: str) -> NodeRow:
    return NodeRow(role=c.role, instance=f"{c.role}-{c.instance}", node=c.node or 0, host=host, url=c.url)


def _plan_rows(plan: Plan) -> list[NodeRow]:
    rows = [_row(c, h.name) for h, c in plan.workers()]
    router = next(c for _, c in plan.containers("router"))
    rows.append(NodeRow(role="router", instance="router", node=0, host=plan.router.host, url=router.url))
    return [*rows, _entry_row(plan)] if plan.entry else rows


def _entry_row(plan: Plan) -> NodeRow:
    assert plan.entry is not None
    return NodeRow(role="entry", instance="entry", node=0, host=plan.entry.host, url=plan.entry.url)


def _router_metrics_port(router: Container) -> int:
    return next((u.port for u in router.ports if u.purpose == "router metrics"), 29000)


def prometheus_of(plan: Plan) -> tuple[str, str] | None:
    """The plan's Prometheus URL and the rate window its rules use, or None without monitoring."""
    for h, c in plan.containers("monitoring"):
        config = next((f.content for f in h.configs if f.target.endswith("prometheus.yml")), "")
        m = re.search(r"scrape_interval: (\d+)(ms|s|m|h)", config)
        ms = int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[m.group(2)] if m else 15_000
        window_s = max(4 * ms // 1000, 4)
        return c.url, f"{window_s}s"
    return None


def source_for(plan: Plan, direct: bool = False, access: Access | None = None) -> DirectSource | PrometheusSource:
    """`access`: reach the nodes (or Prometheus) by way of engine/access; None: HTTP from here, as before."""
    found = None if direct else prometheus_of(plan)
    if found:
        return PrometheusSource(plan, *found, access=access)
    return DirectSource(plan, access=access)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 10 else f"{value:.1f}s"


def fmt_number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def fmt_percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def instances(rows: Iterable[NodeRow]) -> list[str]:
    return sorted({r.instance for r in rows})
