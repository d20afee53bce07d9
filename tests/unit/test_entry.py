"""`entry:`: the TLS door in front of the router (plan/entry.py). Its place in the plan (containers, ports,
firewall, monitoring, who binds where), its secrets (names in files, never contents), and bad input: a
literal key, a certificate that is not its key's, an expired or not yet valid certificate, an unreadable
file, a secret missing at deploy time, each an error naming the field, nothing written or started."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pdcompose import topology
from pdcompose.bench.client import client_key, ssl_context
from pdcompose.bench.workload import BenchConfig
from pdcompose.deploy.entry import load_file_secrets
from pdcompose.errors import PdcomposeError, TopologyError
from pdcompose.plan import build_plan
from pdcompose.plan import entry as plan_entry
from pdcompose.plan.firewall import closed_ports, ruleset
from pdcompose.plan.ports import openings
from pdcompose.render import render_files
from pdcompose.topology.entry import Material, check_material
from tests.entrycerts import Pki, make_pki
from tests.topologies import pd_topology

ROUTER_ADDRESS = "10.0.0.3"
CLIENT_KEYS = "ck-h21-unit-0123456789,ck-h21-unit-second"
ENTRY = ("entry: {certificate: {from_file: pki/entry.pem}, key: {from_file: pki/entry.key}, "
         "client_keys: {from_env: H21_CLIENT_KEYS}, ca: {from_file: pki/ca.pem}}\n")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("entry") / "pki", ROUTER_ADDRESS)


def text(entry: str = ENTRY, extra: str = "firewall: {enabled: true}\nmonitoring: {enabled: true}\n") -> str:
    return pd_topology("h21u", first="127.0.131.10", enabled=False, image="vllm/vllm-openai:v0.13.0",
                       extra=extra + entry)


def plan_of(pki: Pki, yaml: str | None = None, rehearsal: bool = False):
    resolved = topology.from_text(text() if yaml is None else yaml, "t.yaml", pki.ca.parent.parent)
    return build_plan(resolved, rehearsal=rehearsal)[0]


def test_the_entry_runs_beside_the_router_and_is_the_only_door(pki: Pki):
    plan = plan_of(pki)
    r = plan.host("r")
    services = {c.service: c for c in r.containers}
    assert {"router", "entry", "entry-metrics"} <= set(services)
    router = services["router"]
    i = router.command.index("--host")
    assert router.command[i + 1] == ROUTER_ADDRESS                   # no longer every interface
    assert plan.entry is not None and plan.entry.url == "https://10.0.0.3" and plan.entry.host == "r"
    doors = [o for o in openings(plan) if o.entry]
    assert [(o.host, o.port, o.address, o.service) for o in doors] == [("r", 443, "0.0.0.0", "entry")]
    closed = closed_ports(plan, r)
    assert "8123" in closed and "443" not in closed and {"18443", "9113"} <= set(closed)
    rules = ruleset(plan, r)
    assert "8123" in rules and " 443" not in rules


def test_without_an_entry_the_router_is_the_door_as_before(pki: Pki):
    plan = plan_of(pki, text(entry=""))
    router = next(c for _, c in plan.containers("router"))
    assert router.command[router.command.index("--host") + 1] == "0.0.0.0"
    assert plan.entry is None and "entry" not in plan.model_dump(mode="json")
    assert not [c for _, c in plan.containers("entry")]
    assert [(o.service, o.port) for o in openings(plan) if o.entry] == [("router", 8123)]


def test_nginx_streams_untouched_and_checks_client_keys(pki: Pki):
    plan = plan_of(pki)
    conf = next(f.content for f in plan.host("r").configs if f.service == "entry")
    for line in ("listen 0.0.0.0:443 ssl;", "proxy_buffering off;", "proxy_request_buffering off;",
                 "proxy_http_version 1.1;", "include /run/pdcompose-entry/keys.map;",
                 "include /run/pdcompose-entry/upstream-auth.conf;", "server 10.0.0.3:8123;",
                 "location = /stub_status { stub_status; }", "listen 10.0.0.3:18443;",
                 "ssl_certificate /run/secrets/entry_certificate;"):
        assert line in conf, line
    assert "return 401" in conf


def test_secrets_are_named_in_the_files_never_their_contents(pki: Pki, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("H21_CLIENT_KEYS", CLIENT_KEYS)
    plan = plan_of(pki, text(extra="api_key: {from_env: H21_KEY}\n"))
    r = plan.host("r")
    by_name = {s.name: s for s in r.secrets}
    assert by_name["entry_certificate"].from_file == str(pki.certificate)
    assert by_name["entry_key"].from_file == str(pki.key)
    assert by_name["entry_client_keys"].from_env == "H21_CLIENT_KEYS"
    entry = next(c for c in r.containers if c.service == "entry")
    assert set(entry.secrets) == {"entry_certificate", "entry_key", "entry_client_keys", "api_key"}
    files = render_files(plan)
    key_body = pki.key.read_text().splitlines()[1]
    cert_body = pki.certificate.read_text().splitlines()[1]
    for name, data in files.items():
        for secret in (*CLIENT_KEYS.split(","), key_body, cert_body):
            assert secret.encode() not in data, (name, secret)
    compose = files["r/compose.yaml"].decode()
    assert '"entry_key":\n    environment: "PDCOMPOSE_ENTRY_KEY"' in compose
    assert '"entry_client_keys":\n    environment: "H21_CLIENT_KEYS"' in compose
    other = files["p/compose.yaml"].decode()
    assert "entry_" not in other and "pdcompose/entry" not in other


def test_monitoring_scrapes_the_entry_only_when_there_is_one(pki: Pki):
    on = {f.target: f.content for f in plan_of(pki).host("r").configs}
    off = {f.target: f.content for f in plan_of(pki, text(entry="")).host("r").configs}
    assert "pdcompose-entry" in on["/etc/pdcompose/prometheus.yml"]
    assert "PdcomposeEntryDown" in on["/etc/pdcompose/rules.yml"]
    assert json.loads(on["/etc/pdcompose/targets/entry.json"])[0]["targets"] == ["10.0.0.3:9113"]
    assert "entry" not in off["/etc/pdcompose/prometheus.yml"] and "/etc/pdcompose/targets/entry.json" not in off


def test_a_rehearsal_binds_the_entry_on_the_router_hosts_loopback_address(pki: Pki):
    plan = plan_of(pki, rehearsal=True)
    entry = next(c for _, c in plan.containers("entry") if c.service == "entry")
    assert {u.bind for u in entry.ports} == {plan.host("r").address}
    assert entry.pull_policy == "never"


def errors_of(pki: Pki, entry: str, env: dict[str, str] | None = None) -> list[str]:
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        plan_of(pki, text(entry=entry))
    except TopologyError as exc:
        return [f"{i.line}:{i.path}: {i.message}" for i in exc.issues if i.severity == "error"]
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return []


ENTRY_LINE = text().count("\n")      # the entry is the topology's last line


def test_a_key_written_in_the_topology_is_refused_without_repeating_it(pki: Pki):
    errors = errors_of(pki, ENTRY.replace("{from_file: pki/entry.key}", '"-----BEGIN PRIVATE KEY-----MIGHAgEAMBMG"'))
    assert len(errors) == 1 and errors[0].startswith(f"{ENTRY_LINE}:entry.key: ") and "from_file" in errors[0]
    assert "MIGHAgEAMBMG" not in errors[0]
    errors = errors_of(pki, ENTRY.replace("{from_env: H21_CLIENT_KEYS}", '"ck-literal-0123456789"'))
    assert len(errors) == 1 and errors[0].startswith(f"{ENTRY_LINE}:entry.client_keys: ")
    assert "ck-literal" not in errors[0]


def test_a_certificate_that_is_not_its_keys_is_refused(pki: Pki):
    errors = errors_of(pki, ENTRY.replace("pki/entry.key", "pki/other.key"))
    assert len(errors) == 1 and errors[0].startswith(f"{ENTRY_LINE}:entry.key.from_file: the key is not the "
                                                     "certificate's")
    with_env = ENTRY.replace("{from_file: pki/entry.key}", "{from_env: H21_ENTRY_KEY}")
    errors = errors_of(pki, with_env, {"H21_ENTRY_KEY": pki.other_key.read_text()})
    assert len(errors) == 1 and errors[0].startswith(f"{ENTRY_LINE}:entry.key.from_env: the key is not")
    assert errors_of(pki, with_env, {"H21_ENTRY_KEY": pki.key.read_text()}) == []


def test_an_expired_or_not_yet_valid_certificate_is_refused(tmp_path: Path, pki: Pki):
    now = datetime.now(UTC)
    old = make_pki(tmp_path / "old", ROUTER_ADDRESS, not_before=now - timedelta(days=30),
                   not_after=now - timedelta(days=1))
    early = make_pki(tmp_path / "early", ROUTER_ADDRESS, not_before=now + timedelta(days=1))
    for folder, words in ((old, "expired on"), (early, "is not valid before")):
        entry = ENTRY.replace("pki/entry.pem", str(folder.certificate)).replace("pki/entry.key", str(folder.key))
        errors = errors_of(pki, entry)
        assert len(errors) == 1 and errors[0].startswith(f"{ENTRY_LINE}:entry.certificate.from_file: the "
                                                         "certificate (CN=entry 10.0.0.3) "), errors
        assert words in errors[0]


def test_unreadable_files_and_non_certificates_name_their_field(pki: Pki):
    errors = errors_of(pki, ENTRY.replace("pki/entry.pem", "pki/missing.pem"))
    assert len(errors) == 1 and "entry.certificate.from_file: the certificate: cannot read" in errors[0]
    errors = errors_of(pki, ENTRY.replace("pki/entry.pem", "pki/entry.key"))
    assert len(errors) == 1 and "is not a PEM certificate" in errors[0]
    errors = errors_of(pki, ENTRY.replace("pki/ca.pem", "pki/nope.pem"))
    assert len(errors) == 1 and "entry.ca.from_file: the CA: cannot read" in errors[0]


def test_a_certificate_close_to_expiry_is_a_warning(tmp_path: Path, pki: Pki):
    soon = make_pki(tmp_path / "soon", ROUTER_ADDRESS, not_after=datetime.now(UTC) + timedelta(days=3))
    entry = ENTRY.replace("pki/entry.pem", str(soon.certificate)).replace("pki/entry.key", str(soon.key))
    resolved = topology.from_text(text(entry=entry), "t.yaml", pki.ca.parent.parent)
    warnings = [w for w in build_plan(resolved)[1] if w.code == "entry-certificate-expiring"]
    assert len(warnings) == 1 and "expires in 2 day(s)" in warnings[0].message


def test_deploy_reads_the_files_and_checks_them_again_before_anything_starts(tmp_path: Path, pki: Pki,
                                                                            monkeypatch: pytest.MonkeyPatch):
    plan = plan_of(pki)
    monkeypatch.delenv(plan_entry.CERTIFICATE_VAR, raising=False)
    monkeypatch.delenv(plan_entry.KEY_VAR, raising=False)
    load_file_secrets(plan, plan.hosts)
    assert os.environ[plan_entry.CERTIFICATE_VAR] == pki.certificate.read_text()
    assert os.environ[plan_entry.KEY_VAR] == pki.key.read_text()
    # the key replaced by another between render and deploy: refused, naming the field
    moved = tmp_path / "pki"
    moved.mkdir()
    for f in (pki.certificate, pki.ca):
        (moved / f.name).write_bytes(f.read_bytes())
    (moved / "entry.key").write_bytes(pki.other_key.read_bytes())
    swapped = plan.model_copy(update={"hosts": [h.model_copy(update={"secrets": [
        s.model_copy(update={"from_file": str(moved / Path(s.from_file).name)}) if s.from_file else s
        for s in h.secrets]}) for h in plan.hosts]})
    with pytest.raises(PdcomposeError, match=r"t\.yaml: entry\.key: the key is not the certificate's.*nothing was "
                                             "started"):
        load_file_secrets(swapped, swapped.hosts)
    (moved / "entry.key").unlink()
    with pytest.raises(PdcomposeError, match=r"entry\.key: \{from_file: .*entry\.key\}: cannot read it"):
        load_file_secrets(swapped, swapped.hosts)


def test_a_client_keys_variable_unset_at_deploy_names_the_field(pki: Pki, monkeypatch: pytest.MonkeyPatch):
    from pdcompose.deploy.preflight import missing_secrets, unset_secrets_error

    monkeypatch.delenv("H21_CLIENT_KEYS", raising=False)
    plan = plan_of(pki)
    load_file_secrets(plan, plan.hosts)
    missing = missing_secrets(plan.hosts)
    assert missing == ["H21_CLIENT_KEYS"]
    assert "entry.client_keys: {from_env: H21_CLIENT_KEYS}" in str(unset_secrets_error(missing, plan.hosts))


def test_check_material_accepts_a_pair(pki: Pki):
    assert check_material(Material(pki.certificate.read_bytes(), pki.key.read_bytes())) == []


def test_bench_sends_the_first_client_key_and_checks_the_certificate(pki: Pki, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("H21_CLIENT_KEYS", " ck-first-0123,ck-second\n")
    config = BenchConfig(base_url="https://10.0.0.3", model="m", ca_file=str(pki.ca), key_env="H21_CLIENT_KEYS")
    assert client_key(config) == "ck-first-0123"
    context = ssl_context(config)
    assert context.check_hostname and [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "pdcompose test CA"),),)]
    assert client_key(BenchConfig(base_url="http://x", model="m")) is None


def test_export_k8s_refuses_the_entry(pki: Pki):
    from pdcompose.export import ExportError
    from pdcompose.export.k8s.derive import derive

    with pytest.raises(ExportError, match="entry: export k8s does not carry the TLS entry"):
        derive(plan_of(pki), None)  # type: ignore[arg-type]


def test_a_key_variable_unset_at_deploy_stops_it_even_in_a_rehearsal(pki: Pki, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("H21_ENTRY_KEY", raising=False)
    plan = plan_of(pki, text(entry=ENTRY.replace("{from_file: pki/entry.key}", "{from_env: H21_ENTRY_KEY}")),
                   rehearsal=True)
    with pytest.raises(PdcomposeError, match=r"t\.yaml: entry\.key: \{from_env: H21_ENTRY_KEY\}: not set; export it "
                                             "first; nothing was started"):
        load_file_secrets(plan, plan.hosts)


NGINX_METRICS = """# HELP nginx_up Status of the last metric scrape
nginx_connections_active %d
nginx_http_requests_total %d
nginx_up %d
"""


def test_top_shows_the_entry_from_its_exporter(pki: Pki):
    from pdcompose.ops.top import DirectSource, parse

    plan = plan_of(pki)
    targets = DirectSource(plan).targets()
    row, url = targets[-1]
    assert (row.role, row.instance, row.host, url) == ("entry", "entry", "r", "http://10.0.0.3:9113/metrics")
    DirectSource._fill(row, parse(NGINX_METRICS % (3, 100, 1)), None, 10.0)
    assert row.up and row.running == 3 and row.requests == 100
    DirectSource._fill(row, parse(NGINX_METRICS % (1, 130, 1)), (10.0, parse(NGINX_METRICS % (3, 100, 1))), 12.0)
    assert row.request_rate == 15.0
    DirectSource._fill(row, parse(NGINX_METRICS % (0, 130, 0)), None, 14.0)
    assert not row.up                       # the exporter answers, nginx does not
    assert all(r.role != "entry" for r, _ in DirectSource(plan_of(pki, text(entry=""))).targets())


@pytest.mark.parametrize(("variable", "value", "field"), [
    ("H21_CLIENT_KEYS", 'ck-good-1, ck"bad', "entry.client_keys: {from_env: H21_CLIENT_KEYS}: key number 2"),
    ("H21_KEY", "cluster key with spaces", "api_key: {from_env: H21_KEY}: key number 1"),
])
def test_keys_the_entry_could_not_pass_on_stop_deploy(pki: Pki, monkeypatch: pytest.MonkeyPatch, variable: str,
                                                       value: str, field: str):
    monkeypatch.setenv("H21_CLIENT_KEYS", CLIENT_KEYS)
    monkeypatch.setenv("H21_KEY", "sk-fine-0123")
    plan = plan_of(pki, text(extra="api_key: {from_env: H21_KEY}\n"))
    load_file_secrets(plan, plan.hosts)
    monkeypatch.setenv(variable, value)
    with pytest.raises(PdcomposeError, match="nothing was started") as caught:
        load_file_secrets(plan, plan.hosts)
    assert field in str(caught.value) and value not in str(caught.value)
