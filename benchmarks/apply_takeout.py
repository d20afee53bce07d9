"""How a client sees each way of taking an API server out of vllm-router 0.1.17's rotation (PD mode),
measured under steady load (16 concurrent streaming completions through the router) on a deployed
rehearsal with the mock engine. Run from the folder of a deployed rehearsal of tests/apply/topo.py's
cluster (2 prefill, 2 decode):  python benchmarks/apply_takeout.py [ROUTER_URL]

ways:  remove   POST /remove_worker, wait until its metrics are idle, stop it, start it again
       health   stop it (the router's health checks notice), start it again (the router re-admits it)
       router   restart the router container (what re-admits a removed worker in 0.1.17)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx

sys.path.insert(0, ".")
from pdcompose.apply.drain import busy  # noqa: E402
from tests.apply.steady import Load  # noqa: E402

ROUTER = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.120.15:8123"
P0, P1 = "http://127.0.120.10:8087", "http://127.0.120.11:8087"


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


def container(project: str, service: str) -> str:
    return subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
                           "--filter", f"label=com.docker.compose.service={service}"], check=True,
                          capture_output=True, text=True).stdout.strip()


def workers() -> list[tuple[str, bool]]:
    return [(w["url"], w["is_healthy"]) for w in httpx.get(f"{ROUTER}/workers").json()["workers"]]


def wait_healthy(url: str, timeout: float = 60) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy")


def window(load: Load, t0: float, t1: float) -> str:
    inside = [o for o in load.outcomes if o.end >= t0 and o.start <= t1]
    return f"{len(inside)} requests overlapped the change, {sum(not o.ok for o in inside)} of them failed"


def remove(load: Load, cluster: str) -> dict:
    t0 = load.now()
    r = httpx.post(f"{ROUTER}/remove_worker", params={"url": P0})
    unknown = httpx.post(f"{ROUTER}/remove_worker", params={"url": "http://127.0.120.99:8087"})
    drain_t = time.monotonic()
    while busy(httpx.get(f"{P0}/metrics").text):
        time.sleep(0.1)
    drained = time.monotonic() - drain_t
    docker("stop", container(f"{cluster}-p0", "prefill-0-node-0"))
    docker("start", container(f"{cluster}-p0", "prefill-0-node-0"))
    wait_healthy(P0)
    time.sleep(4)                      # does the router take it back by itself? (no: /workers below)
    return {"remove_worker": [r.status_code, r.text[:80]], "remove_unknown": [unknown.status_code, unknown.text[:80]],
            "drain_s": round(drained, 2), "workers_after": workers(), "window": window(load, t0, load.now())}


def health(load: Load, cluster: str) -> dict:
    t0 = load.now()
    name = container(f"{cluster}-p1", "prefill-1-node-0")
    docker("stop", name)
    t_out = time.monotonic()
    while any(u.startswith(P1) and ok for u, ok in workers()):
        time.sleep(0.1)
    noticed = time.monotonic() - t_out
    docker("start", name)
    wait_healthy(P1)
    t_in = time.monotonic()
    while not any(u.startswith(P1) and ok for u, ok in workers()):
        time.sleep(0.1)
    return {"noticed_after_s": round(noticed, 2), "readmitted_after_s": round(time.monotonic() - t_in, 2),
            "window": window(load, t0, load.now())}


def router(load: Load, cluster: str) -> dict:
    t0 = load.now()
    name = container(f"{cluster}-r", "router")
    t = time.monotonic()
    docker("restart", name)
    wait_healthy(ROUTER)
    return {"restart_to_healthy_s": round(time.monotonic() - t, 2), "workers_after": workers(),
            "window": window(load, t0, load.now() + 1)}


def main() -> None:
    cluster = sys.argv[2] if len(sys.argv) > 2 else "h20a"
    results = {}
    for way in (remove, router, health):
        with Load(ROUTER, "apply/model") as load:
            time.sleep(3)
            results[way.__name__] = way(load, cluster)
            time.sleep(2)
        results[way.__name__]["load"] = load.summary()
        print(way.__name__, json.dumps(results[way.__name__], indent=1), flush=True)


if __name__ == "__main__":
    main()
