"""`entry:` -> the TLS front door on the router's host: nginx (Debian's, image pdcompose/entry) terminating TLS
with the operator's certificate, admitting only requests that carry a client key, and proxying them to the
router with streaming untouched; plus prometheus-nginx-exporter reading nginx's stub_status for monitoring.

Why nginx: it is in Debian (1.22, security-supported), its `proxy_buffering off` passes each SSE chunk on as
it arrives, and Debian also packages an exporter for its stub_status (prometheus-nginx-exporter 0.11), so the
entry's health and traffic reach Prometheus with no code of ours in between. HAProxy 2.6 would have needed a
Lua script or its optional Prometheus service for the same.

How the keys are checked: `map $http_authorization` against one `"Bearer <key>"` line per client key. The map
file is written inside the container at start (images/entry/pdcompose-entry) from the Compose secret, so the
keys are in no rendered file, argv, environment block or `docker inspect`. The client's Authorization header
is not passed on: with `api_key:` the entry sends the cluster's key instead (vllm-router 0.1.17 forwards a
client's Authorization as is on /v1/models, and adds its own OPENAI_API_KEY on generation), without it none.

nginx starts without waiting for the router (no depends_on): deploy starts it after the router is ready, and
the exporter retries nginx's stub_status until nginx answers.

With the entry, the router listens on its host's address only (not every interface): the entry is the door,
the router's port one of the cluster-only ones the firewall closes.
"""

from __future__ import annotations

from pdcompose import defaults
from pdcompose.plan import auth
from pdcompose.plan.hosts import HostFacts
from pdcompose.plan.models import ConfigFile, Container, EntryPlan, Healthcheck, PortUse, Secret
from pdcompose.topology import Resolved
from pdcompose.topology.entry import Entry, FromFile, file_path

SERVICE = "entry"
EXPORTER = "entry-metrics"
CONFIG = "/etc/pdcompose/nginx.conf"
CERTIFICATE, KEY, CLIENT_KEYS = "entry_certificate", "entry_key", "entry_client_keys"
SECRET_NAMES = (CERTIFICATE, KEY, CLIENT_KEYS)
# Variables deploy fills from the files the topology names (Compose copies an `environment:` secret into the
# container; a `file:` secret would be a bind mount of a path on the remote host, where the file is not).
CERTIFICATE_VAR, KEY_VAR = "PDCOMPOSE_ENTRY_CERTIFICATE", "PDCOMPOSE_ENTRY_KEY"
PURPOSE, STATUS, METRICS = "HTTPS", "entry status", "entry metrics"
STREAM_TIMEOUT = 1800     # s: the router's own --request-timeout-secs default; a stream may be silent this long


def secrets(r: Resolved) -> list[Secret]:
    e = r.topology.entry
    if e is None:
        return []
    key = (Secret(name=KEY, from_env=KEY_VAR, from_file=str(file_path(e.key, r.base_dir)))
           if isinstance(e.key, FromFile) else Secret(name=KEY, from_env=e.key.from_env))
    return [Secret(name=CERTIFICATE, from_env=CERTIFICATE_VAR, from_file=str(file_path(e.certificate, r.base_dir))),
            key, Secret(name=CLIENT_KEYS, from_env=e.client_keys.from_env)]


def entry_plan(r: Resolved, host: HostFacts) -> EntryPlan | None:
    e = r.topology.entry
    if e is None:
        return None
    return EntryPlan(host=host.name, url=f"https://{host.url_host}" + ("" if e.port == 443 else f":{e.port}"),
                     client_keys=e.client_keys.from_env, ca=str(file_path(e.ca, r.base_dir)) if e.ca else None,
                     status_url=f"http://{host.url_host}:{e.status_port}",
                     metrics_url=f"http://{host.url_host}:{e.metrics_port}")


def entry_containers(r: Resolved, host: HostFacts, router: Container) -> tuple[list[Container], list[ConfigFile]]:
    t, e = r.topology, r.topology.entry
    if e is None:
        return [], []
    bind = host.address if t.rehearsal.enabled else "0.0.0.0"
    image = e.image or defaults.ENTRY_IMAGE
    pull = "never" if t.rehearsal.enabled or not e.image else t.pull_policy
    router_port = next(p.port for p in router.ports if p.purpose == "router")
    status = f"http://{host.url_host}:{e.status_port}"
    nginx = Container(
        service=SERVICE, role="entry", image=image, entrypoint=["/usr/local/bin/pdcompose-entry"], command=[],
        pull_policy=pull, env={}, secrets=[CERTIFICATE, KEY, CLIENT_KEYS, *([auth.SECRET] if t.api_key else [])],
        ports=[PortUse(port=e.port, purpose=PURPOSE, bind=bind),
               PortUse(port=e.status_port, purpose=STATUS, bind=host.address)],
        url=status, healthcheck=_probe(f"{status}/health"),
        restart=t.restart, stop_grace_period=30, labels={"io.pdcompose.role": "entry"})
    exporter = Container(
        service=EXPORTER, role="entry", image=image, entrypoint=["prometheus-nginx-exporter"],
        command=[f"-nginx.scrape-uri={status}/stub_status", f"-web.listen-address={host.url_host}:{e.metrics_port}",
                 "-nginx.retries=30", "-nginx.retry-interval=1s"],
        pull_policy=pull, env={}, ports=[PortUse(port=e.metrics_port, purpose=METRICS, bind=host.address)],
        url=f"http://{host.url_host}:{e.metrics_port}", health_path="/metrics",
        healthcheck=_probe(f"http://{host.url_host}:{e.metrics_port}/metrics"),
        restart=t.restart, stop_grace_period=10, labels={"io.pdcompose.role": "entry"})
    conf = ConfigFile(name="entry-nginx", service=SERVICE, target=CONFIG,
                      content=nginx_conf(e, bind, host, f"{host.url_host}:{router_port}"))
    return [nginx, exporter], [conf]


def _probe(url: str) -> Healthcheck:
    probe = f"import urllib.request; urllib.request.urlopen('{url}', timeout=4)"
    return Healthcheck(test=["CMD", "python3", "-c", probe], interval=5, timeout=5, retries=3, start_period=20)


def nginx_conf(e: Entry, bind: str, host: HostFacts, upstream: str) -> str:
    listen = f"[{bind}]:{e.port}" if ":" in bind else f"{bind}:{e.port}"
    return f"""# pdcompose entry: TLS and client keys in front of the router (plan/entry.py). Generated.
worker_processes 2;
pid /run/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    default_type application/json;
    # one "Bearer <key>" 1; line per client key: written at start from the secret (images/entry/pdcompose-entry)
    map $http_authorization $pdcompose_client {{
        default 0;
        include /run/pdcompose-entry/keys.map;
    }}
    upstream router {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen {listen} ssl;
        ssl_certificate /run/secrets/{CERTIFICATE};
        ssl_certificate_key /run/secrets/{KEY};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:pdcompose:10m;
        client_max_body_size 64m;
        location / {{
            if ($pdcompose_client = 0) {{
                add_header WWW-Authenticate Bearer always;
                return 401 '{{"error": "Unauthorized"}}\\n';
            }}
            proxy_pass http://router;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # the client's key stays here: the router gets none, or the cluster's (`api_key:`), which it
            # forwards as is on /v1/models (written at start from the secret, like the client keys)
            include /run/pdcompose-entry/upstream-auth.conf;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto https;
            # streaming (SSE) untouched: every chunk goes on as it arrives, in both directions
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_cache off;
            gzip off;
            proxy_read_timeout {STREAM_TIMEOUT}s;
            proxy_send_timeout {STREAM_TIMEOUT}s;
        }}
    }}
    server {{
        listen {host.url_host}:{e.status_port};
        location = /health {{ return 200 '{{"status": "ok"}}\\n'; }}
        location = /stub_status {{ stub_status; }}
        location / {{ return 404; }}
    }}
}}
"""
