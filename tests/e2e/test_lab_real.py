"""`make e2e-lab-real`, the real engine across lab hosts: examples/rehearsal-real.yaml on 4 lab hosts with
real `vllm serve` (vLLM's CPU build) behind the real vllm-router,
the KV cache moving by NIXL between different addresses.

A prefill instance on n0; a decode instance spanning n1 and n2 (hybrid-LB data parallelism, its DP master
on n1, 2 engines per host: DP 4); the router on n3. Each host is its own Docker daemon,
network namespace and address (198.19.13.x); the operator reaches them only over SSH. The 13 GB image is
seeded into the hosts' stores (`lab up --seed`: hardlinked from this machine's, no copy); the router image
is pushed over SSH like any image. The engines' own counters prove every request was paired P->D: the
prefill and the decodes finished as many requests as the bench sent, and the decodes' NIXL metrics count
one transfer per request, none failed, the decodes' engines seeing the prefill at another address.

Memory: ~17 GB, as the loopback real-engine scenario. Waits (bounded) for other jobs to leave room, never skips.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from pdcompose import defaults
from pdcompose.lab.model import Lab
from tests.e2e.test_real_engine import metrics, wait_for_memory
from tests.figures import LINES
from tests.helpers import REPO
from tests.lab.kit import containers_on, lab_of, moved, op

pytestmark = [pytest.mark.e2e, pytest.mark.lab_real]    # make e2e-lab-real, not make e2e
LAB = "e2er"
SUBNET = "198.19.13.0/24"
N = 16


@pytest.fixture(scope="module")
def lab() -> Lab:
    # The engine's image and the load generator's (the mock image, on the router's host) are seeded; the
    # router's is pushed over SSH like any image.
    with lab_of(LAB, 4, SUBNET, seed=(defaults.VLLM_CPU_IMAGE, defaults.MOCK_VLLM_IMAGE)) as made:
        yield made


@pytest.fixture(scope="module")
def topology(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lab-real")
    source = (REPO / "examples" / "rehearsal-real.yaml").read_text().replace("name: pd-real", "name: e2e-lab-real")
    # vLLM forms a DP group across hosts over Gloo, which binds the address the host's NAME resolves to unless
    # told the NIC: 127.0.0.1 here (127.0.1.1 on a default Debian host), so the group never formed on the lab
    # (the loopback rehearsal hid it: every engine shares 127.0.0.1). The guide sets GLOO_SOCKET_IFNAME.
    source += 'env: {GLOO_SOCKET_IFNAME: "{interface}"}\n'
    (folder / "source.yaml").write_text(source)
    return moved(lab, folder / "source.yaml", folder)


def counters(prefill: str, decodes: list[str]) -> dict[str, float]:
    p, d = metrics(prefill), [metrics(u) for u in decodes]
    return {"prefill_requests": p.get("vllm:request_success_total", 0.0),
            "decode_requests": sum(x.get("vllm:request_success_total", 0.0) for x in d),
            "nixl_transfers": sum(x.get("vllm:nixl_xfer_time_seconds_count", 0.0) for x in d),
            "nixl_failed": sum(x.get("vllm:nixl_num_failed_transfers_total", 0.0) for x in d)}


def test_the_real_engine_pairs_across_lab_hosts(lab: Lab, topology: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(topology.parent)
    plan = json.loads(op(lab, topology, "plan", "--json").stdout)
    urls = {c["role"]: [] for h in plan["hosts"] for c in h["containers"]}
    for h in plan["hosts"]:
        for c in h["containers"]:
            urls[c["role"]].append(c["url"])
    prefill, decodes = urls["prefill"][0], urls["decode"]
    addresses = {u.split("//")[1].split(":")[0] for u in [prefill, *decodes]}
    assert len(addresses) == 3 and all(a.startswith("198.19.13.") for a in addresses), addresses

    op(lab, topology, "images", "push", timeout=900)        # the router's image, over SSH; vLLM's is seeded
    wait_for_memory()
    t0 = time.monotonic()
    deployed = json.loads(op(lab, topology, "deploy", "--json", timeout=1800).stdout)
    ready = time.monotonic() - t0
    assert deployed["status"] == "ok" and deployed["smoke"].startswith("200"), deployed
    status = json.loads(op(lab, topology, "status", "--json").stdout)
    roles = sorted(c["role"] for c in status["containers"])
    # 4 engines and the router's container... and a group watchdog beside each node of the decode group
    assert status["status"] == "ok", status
    assert roles == ["decode", "decode", "prefill", "router", "watchdog", "watchdog"], roles
    assert {r["state"] for r in status["recovery"]} == {"serving"}, status["recovery"]

    before = counters(prefill, decodes)
    bench = json.loads(op(lab, topology, "bench", "-n", str(N), "--max-concurrency", "4", "--input-len", "64",
                          "--output-len", "16", "--json", timeout=900).stdout)
    after = counters(prefill, decodes)
    moved_ = {k: after[k] - before[k] for k in before}
    m = bench["metrics"]
    assert m["completed"] == N and m["failed"] == 0, m
    assert moved_["prefill_requests"] == N and moved_["decode_requests"] == N, moved_
    assert moved_["nixl_transfers"] == N and moved_["nixl_failed"] == 0, moved_
    # Both decode nodes took part (hybrid LB: the router addresses each node's API server).
    per_node = [metrics(u).get("vllm:request_success_total", 0.0) for u in decodes]
    assert all(x > 0 for x in per_node), per_node
    assert httpx.get(f"{prefill}/health", timeout=5).status_code == 200

    op(lab, topology, "down", timeout=600)
    assert containers_on(lab) == {h.name: [] for h in lab.hosts}, containers_on(lab)
    LINES.append(f"lab, real engine (vLLM {defaults.VLLM_CPU_VERSION} CPU) on 4 hosts (prefill n0, decode DP 4 "
                 f"over n1+n2, router n3), from the SSH-only operator: router ready {ready:.0f} s after `deploy`; "
                 f"{N}/{N} requests paired P->D, {moved_['nixl_transfers']:.0f} NIXL transfers between different "
                 f"addresses counted by the decodes, 0 failed; decode nodes served {per_node[0]:.0f} + "
                 f"{per_node[1]:.0f}; {m['request_throughput']:.2f} req/s")
