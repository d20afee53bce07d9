"""The group watchdog's process: every second it reads its own engine (Docker's state through the host's
socket, and /health) and its peers (their watchdog's /state, or their /health when that is silent), lets
`group.Group` decide, stops or starts its engine, and publishes its own /state for the peers and for
`pdcompose status`. Stdlib only: it runs in the engine's image (see dockerapi)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

if __package__:
    from pdcompose.watchdog.dockerapi import Docker, DockerError
    from pdcompose.watchdog.group import DOWN, Group, Local, Peer, Settings
else:                                       # run as a script from the Compose configs beside it
    from dockerapi import Docker, DockerError  # type: ignore[import-not-found,no-redef]
    from group import DOWN, Group, Local, Peer, Settings  # type: ignore[import-not-found,no-redef]

log = logging.getLogger("pdcompose.watchdog")
LOG_LINES = 15


def get(url: str, timeout: float) -> tuple[int | None, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, ValueError):
        return None, b""


class Agent:
    def __init__(self, config: dict[str, Any], docker: Docker | None = None) -> None:
        self.c = config
        hosts = {n["node"]: n["host"] for n in config["nodes"]}
        self.me = next(n for n in config["nodes"] if n["node"] == config["node"])
        self.peers = [n for n in config["nodes"] if n["node"] != config["node"]]
        self.group = Group(Settings(node=config["node"], hosts=hosts, **config["settings"]))
        self.docker = docker or Docker(config.get("docker_socket", "/var/run/docker.sock"))
        self.local = Local("missing", False)
        self.last_crash: dict[str, Any] | None = None
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max(len(self.peers), 1) + 1)
        self.cid: str | None = None

    # --- what this node publishes --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self.lock:
            g = self.group
            retry = max(g.next_start - time.monotonic(), 0.0) if g.phase == DOWN and g.next_start else 0.0
            return {"instance": self.c["instance"], "node": self.c["node"], "host": self.me["host"],
                    "mode": g.s.mode, "phase": g.phase, "generation": g.generation, "reason": g.reason,
                    "failures": g.failures, "retry_in": round(retry, 1), "engine": self.local.engine,
                    "engine_up": self.local.engine == "running", "healthy": self.local.healthy,
                    "last_crash": self.last_crash}

    # --- what it sees ----------------------------------------------------------------------------------------
    def _local(self) -> Local:
        try:
            self.cid = self.cid or self.docker.find(self.c["project"], self.c["service"])
            state = self.docker.state(self.cid) if self.cid else None
        except DockerError as exc:
            log.warning("cannot ask Docker about %s: %s", self.c["service"], exc)
            return self.local                # keep the last view rather than act on a blind one
        if state is None:
            self.cid = None
            return Local("missing", False)
        status, _ = get(self.me["health_url"], self.c.get("probe_timeout", 1.0))
        return Local(state["Status"], state["Status"] == "running" and status == 200)

    def _peer(self, node: dict[str, Any]) -> Peer:
        timeout = self.c.get("probe_timeout", 1.0)
        status, body = get(f"{node['watch_url']}/state", timeout)
        if status == 200:
            try:
                s = json.loads(body)
                return Peer(node["node"], s["phase"], s["generation"], s["engine_up"], s["healthy"])
            except (ValueError, KeyError):
                pass
        health, _ = get(node["health_url"], timeout)
        return Peer(node["node"], None, healthy=health == 200)

    # --- the loop -----------------------------------------------------------------------------------------
    def tick(self, now: float, first: bool = False) -> None:
        peers = list(self.pool.map(self._peer, self.peers))
        local = self._local()
        with self.lock:
            was = self.local
            self.local = local
            if first:
                self.group.begin(now, local)
            before = (self.group.phase, self.group.reason)
            actions = self.group.step(now, local, peers)
            after = (self.group.phase, self.group.reason)
        if was.engine == "running" and local.engine not in ("running", "missing") and not self.group.stopping:
            self._record_crash()
        if after != before:
            log.info("%s -> %s: %s", before[0], after[0], after[1])
        for action in actions:
            self._act(action)

    def _act(self, action: str) -> None:
        if not self.cid:
            log.error("cannot %s %s: it has no container (`pdcompose deploy` creates it)", action, self.c["service"])
            return
        try:
            if action == "stop":
                log.warning("stopping %s: %s", self.c["service"], self.group.reason)
                self.docker.stop(self.cid, self.c.get("stop_grace", 5))
            else:
                log.warning("starting %s: %s", self.c["service"], self.group.reason)
                self.docker.start(self.cid)
        except DockerError as exc:
            log.error("%s failed: %s", action, exc)

    def _record_crash(self) -> None:
        assert self.cid
        try:
            state = self.docker.state(self.cid) or {}
            lines = self.docker.logs(self.cid, LOG_LINES)
        except DockerError:
            state, lines = {}, []
        with self.lock:
            self.last_crash = {"exit_code": state.get("ExitCode"), "finished_at": state.get("FinishedAt"),
                               "log": lines}
        log.warning("%s exited (%s); last lines:\n%s", self.c["service"], state.get("ExitCode"), "\n".join(lines))

    def run(self) -> None:
        interval = self.c.get("interval", 1.0)
        self.tick(time.monotonic(), first=True)
        while True:
            time.sleep(interval)
            self.tick(time.monotonic())


def serve(agent: Agent, address: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/health":
                body = b"ok"
            elif self.path == "/state":
                body = json.dumps(agent.state()).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None                     # polled every second by every peer: not worth a line each

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    with open(argv[1]) as f:
        config = json.load(f)
    agent = Agent(config)
    serve(agent, config["listen"], config["port"])
    log.info("watching %s node %d (%s); peers: %s", config["instance"], config["node"], config["service"],
             ", ".join(f"{p['host']} (node {p['node']})" for p in agent.peers))
    agent.run()


if __name__ == "__main__":
    main(sys.argv)
