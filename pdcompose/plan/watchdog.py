"""The group watchdog of every node of a multi-node instance: a small container beside each node's engine,
on the same host, that takes the group out of service when one of its nodes is lost and (recovery: auto)
restarts the whole group, master first (pdcompose/watchdog).

It runs the engine's own image (it needs only python3), so nothing new is pulled or pushed, and its code
and configuration are Compose configs with inline content, like Prometheus's, so they reach the host
through any Docker context. It mounts the host's Docker socket to stop and start its engine: that is root
on the host, the same trust every Docker context of pdcompose already has."""

from __future__ import annotations

import json
from importlib import resources

from pdcompose.plan.models import ConfigFile, Container, Healthcheck, PortUse
from pdcompose.topology import Resolved

PORT_OFFSET = 10000                 # the guide's API port 8087 -> the watchdog's 18087
DIR = "/opt/pdcompose-watchdog"
SOCKET = "/var/run/docker.sock"
SOURCES = ("agent.py", "group.py", "dockerapi.py")
DETECT_AFTER = 3.0
BACKOFF, BACKOFF_MAX, STABLE_AFTER = 5.0, 300.0, 60.0


def watchdogs(r: Resolved, workers: list[Container],
              addresses: dict[str, str]) -> list[tuple[Container, list[ConfigFile]]]:
    """One per node of each multi-node instance, labelled with its host like the worker it watches."""
    groups: dict[tuple[str, int | None], list[Container]] = {}
    for c in workers:
        if c.dp and c.dp.nodes > 1:
            groups.setdefault((c.role, c.instance), []).append(c)
    return [_one(r, c, members, addresses) for members in groups.values() for c in members]


def watch_port(c: Container) -> int:
    return c.ports[0].port + PORT_OFFSET     # ports[0] is the API port (plan/vllm._ports)


def _one(r: Resolved, c: Container, members: list[Container],
         addresses: dict[str, str]) -> tuple[Container, list[ConfigFile]]:
    t = r.topology
    host = c.labels["io.pdcompose.host"]
    name = f"{c.role}-{c.instance}"
    bind = addresses[host] if t.rehearsal.enabled else "0.0.0.0"
    local = "127.0.0.1" if bind == "0.0.0.0" else bind
    port = watch_port(c)
    service = f"{c.service}-watchdog"
    sock = t.hosts[host].docker_socket
    config = {
        "instance": name, "node": c.node, "service": c.service, "project": f"{t.name}-{host}",
        "listen": bind, "port": port, "docker_socket": SOCKET, "stop_grace": 5,
        "nodes": [{"node": m.node, "host": m.labels["io.pdcompose.host"], "health_url": f"{m.url}{m.health_path}",
                   "watch_url": m.url.rsplit(":", 1)[0] + f":{watch_port(m)}"} for m in members],
        "settings": {"mode": t.recovery, "detect_after": DETECT_AFTER, "start_timeout": float(t.health.deploy_timeout),
                     "backoff": BACKOFF, "backoff_max": BACKOFF_MAX, "stable_after": STABLE_AFTER,
                     "fix": f"pdcompose restart --instance {name}"},
    }
    files = {f"{DIR}/{f}": resources.files("pdcompose.watchdog").joinpath(f).read_text() for f in SOURCES}
    files[f"{DIR}/watchdog.json"] = json.dumps(config, indent=2, sort_keys=True) + "\n"
    configs = [ConfigFile(name=f"{service}-{path.rsplit('/', 1)[1].replace('.', '-')}", service=service,
                          target=path, content=text) for path, text in files.items()]
    probe = f"import urllib.request; urllib.request.urlopen('http://{local}:{port}/health', timeout=2)"
    container = Container(
        service=service, role="watchdog", instance=c.instance, node=c.node, image=c.image,
        pull_policy=c.pull_policy, entrypoint=["python3", f"{DIR}/agent.py"], command=[f"{DIR}/watchdog.json"],
        env={"NVIDIA_VISIBLE_DEVICES": "void", "PYTHONUNBUFFERED": "1"}, volumes=[f"{sock}:{SOCKET}"],
        ports=[PortUse(port=port, purpose="group watchdog", bind=bind)],
        url=f"http://{c.url.rsplit('://', 1)[1].rsplit(':', 1)[0]}:{port}",
        healthcheck=Healthcheck(test=["CMD", "python3", "-c", probe], interval=30, timeout=10, retries=3,
                                start_period=10),
        restart="unless-stopped", stop_grace_period=5,
        labels={"io.pdcompose.role": "watchdog", "io.pdcompose.instance": str(c.instance),
                "io.pdcompose.node": str(c.node), "io.pdcompose.host": host, "io.pdcompose.watches": name})
    return container, configs
