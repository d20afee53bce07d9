"""Proof from outside (issue 21): a lab of 4 hosts; the topology (prefill p, decode d, router r) uses
three, with `api_key`, `firewall` and the TLS `entry` on; the fourth host is in no topology: it is the
outsider. From its network namespace every TCP port (1-65535) of the three hosts is scanned before and after
`pdcompose firewall apply`. Before, every worker port answers it; after, only the entry's port (and each lab
host's own sshd, which the firewall leaves alone) does: the router's own port is closed too. Through the
entry the outsider gets 401 without a client key and 200 with one, over TLS checked against the operator's
CA. A worker's /v1 still needs the cluster key, and a bench run afterwards (through the entry) still pairs
every request (its pairing is read from inside the hosts). No key is in a rendered file or `docker
inspect`; /health and /metrics stay open to cluster hosts (vLLM's rule)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from pdcompose import defaults
from tests.entrycerts import make_pki
from tests.figures import LINES
from tests.lab.kit import host_docker, lab_of, moved, pdc
from tests.topologies import pd_topology

pytestmark = pytest.mark.e2e
LAB, SUBNET = "h21", "198.19.21.0/24"
KEY = "h21-lab-Key-93e1c0d2b7a45f68"
CLIENT_KEY = "h21-lab-client-5c0f9e2a71d3b846"
ENV = {"H21_LAB_KEY": KEY, "H21_LAB_CLIENTS": CLIENT_KEY}
SCAN = Path(__file__).with_name("scan.py")
TOPOLOGY = pd_topology("h21-lab", first="127.0.121.30", model="org/model", image="vllm/vllm-openai:v0.13.0",
                       rehearsal="load_delay: 0.5",
                       extra="api_key: {from_env: H21_LAB_KEY}\nfirewall: {enabled: true}\n"
                             "entry: {certificate: {from_file: pki/entry.pem}, key: {from_file: pki/entry.key}, "
                             "client_keys: {from_env: H21_LAB_CLIENTS}, ca: {from_file: pki/ca.pem}}\n")


def scan_from(netns: str, addresses: list[str]) -> tuple[dict[str, list[int]], float]:
    t0 = time.monotonic()
    done = subprocess.run(["ip", "netns", "exec", netns, "python3", str(SCAN), *addresses], capture_output=True,
                          text=True, timeout=600, check=True)
    return json.loads(done.stdout), time.monotonic() - t0


def cli(folder: Path, *args: str, ok: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = pdc(*args, "-f", str(folder / "pdcompose.yaml"), ok=ok, timeout=timeout, env=ENV)
    print(f"$ pdcompose {' '.join(args)} -> {done.returncode}")
    return done


def curl_from(netns: str, url: str, key: str | None = None, ca: Path | None = None) -> str:
    header = f", headers={{'Authorization': 'Bearer {key}'}}" if key else ""
    tls = f", context=ssl.create_default_context(cafile={str(ca)!r})" if ca else ""
    probe = ("import ssl, urllib.request, urllib.error\n"
             f"req = urllib.request.Request({url!r}{header})\n"
             f"try:\n    print(urllib.request.urlopen(req, timeout=3{tls}).status)\n"
             "except urllib.error.HTTPError as e:\n    print(e.code)\n"
             "except Exception as e:\n    print(type(e).__name__)\n")
    return subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", probe], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def test_only_the_entry_answers_an_outsider_and_the_cluster_still_pairs(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    subprocess.run([str(Path(__file__).resolve().parents[2] / "images" / "build.sh"), "firewall", "entry"],
                   check=True, capture_output=True, timeout=1800)
    # The images are seeded (hardlinked from this machine's store): `images push` over SSH is make e2e's
    # test_lab.py's subject; nft runs in pdcompose/firewall on each host (`firewall apply`).
    seeded = (defaults.MOCK_VLLM_IMAGE, defaults.ROUTER_IMAGE, defaults.FIREWALL_IMAGE, defaults.ENTRY_IMAGE)
    with lab_of(LAB, 4, SUBNET, seed=seeded) as lab:
        p, d, r, outsider = lab.hosts
        pki = make_pki(tmp_path / "pki", r.address)        # the operator's CA and the entry's certificate
        (tmp_path / "source.yaml").write_text(TOPOLOGY)
        folder = moved(lab, tmp_path / "source.yaml", tmp_path).parent
        monkeypatch.chdir(folder)
        addresses = [p.address, d.address, r.address]
        try:
            deploy = json.loads(cli(folder, "deploy", "--json").stdout)
            assert deploy["status"] == "ok", deploy
            before, took_before = scan_from(outsider.netns, addresses)
            cli(folder, "firewall", "apply")
            after, took_after = scan_from(outsider.netns, addresses)
            live = cli(folder, "firewall", "show", "--live")
            assert live.stdout.count("as planned") == 3, live.stdout

            # the router, its metrics, the entry (443), its status and its exporter: on r's address
            planned = {p.address: {8087, 5600}, d.address: {8087, 5600}, r.address: {8123, 29000, 443, 18443, 9113}}
            for address in addresses:
                assert set(before[address]) == planned[address] | {22}, (address, before[address])
            assert after == {p.address: [22], d.address: [22], r.address: [22, 443]}, after
            LINES.append(f"lab scan (issue 21): every TCP port of 3 hosts from a 4th, {took_before:.1f} s before "
                         f"and {took_after:.1f} s after the firewall: before {before}; after {after}")
            print(LINES[-1])

            worker = f"http://{p.address}:8087/v1/models"
            assert curl_from(p.netns, worker) == "401" and curl_from(p.netns, worker, KEY) == "200"
            for path in ("/health", "/metrics"):          # vLLM leaves them open: the firewall closes them
                assert curl_from(d.netns, f"http://{p.address}:8087{path}") == "200"
            # the key: in no rendered file, argv, environment block or `docker inspect` of any container
            for path in folder.rglob("*"):
                text = path.read_text(errors="replace") if path.is_file() and "pki" not in path.parts else ""
                assert KEY not in text and CLIENT_KEY not in text, path
            for host in (p, d, r):
                ids = host_docker(lab, host.name, "ps", "-q").stdout.split()
                inspect = host_docker(lab, host.name, "inspect", *ids).stdout
                assert ids and KEY not in inspect and CLIENT_KEY not in inspect, host.name
                env = [e for c in json.loads(inspect) for e in c["Config"]["Env"]]
                assert not [e for e in env if e.startswith(("VLLM_API_KEY=", "OPENAI_API_KEY="))], host.name
            door = f"https://{r.address}/v1/models"
            assert curl_from(outsider.netns, door, ca=pki.ca) == "401"
            assert curl_from(outsider.netns, door, KEY, ca=pki.ca) == "401"      # the cluster key is no client key
            assert curl_from(outsider.netns, door, CLIENT_KEY, ca=pki.ca) == "200"
            assert curl_from(outsider.netns, door, CLIENT_KEY) == "URLError"      # not without the operator's CA
            for closed in (f"http://{r.address}:8123/health", worker):
                assert curl_from(outsider.netns, closed, KEY) in ("TimeoutError", "URLError", "timeout"), closed

            bench = json.loads(cli(folder, "bench", "-n", "20", "--max-concurrency", "4", "--input-len", "32",
                                   "--output-len", "8", "--json").stdout)
            assert bench["metrics"]["completed"] == 20 and bench["metrics"]["failed"] == 0, bench["metrics"]
            assert bench["pairing"]["paired"] == 20, bench["pairing"]
            assert json.loads(cli(folder, "status", "--json").stdout)["status"] == "ok"
        finally:
            cli(folder, "firewall", "remove", ok=None)
            cli(folder, "down", ok=None)
        assert all(not host_docker(lab, h.name, "ps", "-q").stdout.strip() for h in (p, d, r))
