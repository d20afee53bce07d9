"""Deploy's part for `entry:` (plan/entry.py): its file secrets read into the variables Compose fills the
secrets from, the certificate and key checked again before anything starts, and the entry's own health
waited for after the router's.

The files are read here, on the machine running deploy, and reach the containers only as Compose
`environment:` secrets (copied into /run/secrets by Compose, on any Docker context): never a bind mount of
a path that would have to exist on the remote host, never a rendered file.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from pdcompose.engine.access import Access
from pdcompose.engine.inside import Request
from pdcompose.errors import PdcomposeError
from pdcompose.plan import auth, entry
from pdcompose.plan.models import Host, Plan
from pdcompose.progress import Reporter
from pdcompose.topology.entry import Material, check_material

FIELDS = {entry.CERTIFICATE: "entry.certificate", entry.KEY: "entry.key", entry.CLIENT_KEYS: "entry.client_keys"}
NO_PLACEHOLDER = (entry.CERTIFICATE, entry.KEY)   # a rehearsal fakes the client keys, never a certificate
HEALTH_TIMEOUT = 60.0
BEARER = re.compile(r"[A-Za-z0-9._~+/=-]+")        # RFC 6750's b64token: what the entry's start script accepts


def load_file_secrets(plan: Plan, hosts: list[Host]) -> None:
    """Fill the variables of the entry's file secrets from their files, and check the certificate and key
    (files or variables) as `validate` does; a PdcomposeError naming the field, before anything starts."""
    secrets = {s.name: s for h in hosts for s in h.secrets if s.name in FIELDS}
    if not secrets:
        return
    for s in secrets.values():
        if s.from_file is None:
            continue
        try:
            os.environ[s.from_env] = Path(s.from_file).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise PdcomposeError(f"{plan.source}: {FIELDS[s.name]}: {{from_file: {s.from_file}}}: cannot read it "
                                 f"({getattr(exc, 'strerror', None) or exc}); nothing was started") from None
    missing = [s for s in secrets.values() if s.name in NO_PLACEHOLDER and not os.environ.get(s.from_env)]
    if missing:
        named = ", ".join(f"{FIELDS[s.name]}: {{from_env: {s.from_env}}}" for s in missing)
        raise PdcomposeError(f"{plan.source}: {named}: not set; export it first; nothing was started")
    _check_keys(plan, hosts)
    cert, key = secrets.get(entry.CERTIFICATE), secrets.get(entry.KEY)
    if cert is None or key is None:
        return
    problems = check_material(Material(os.environ[cert.from_env].encode(), os.environ[key.from_env].encode()))
    if problems:
        on_key = problems[0].startswith("the key")
        field = FIELDS[entry.KEY] if on_key else FIELDS[entry.CERTIFICATE]
        raise PdcomposeError(f"{plan.source}: {field}: {problems[0]}; nothing was started")


def _check_keys(plan: Plan, hosts: list[Host]) -> None:
    """The client keys (and the cluster's, which the entry sends on) as the entry's start script will judge
    them: refused here, naming the field, rather than by a container that stops after the router started."""
    by_name = {s.name: s.from_env for h in hosts for s in h.secrets}
    for name, field in ((entry.CLIENT_KEYS, "entry.client_keys"), (auth.SECRET, "api_key")):
        value = os.environ.get(by_name.get(name, ""), "")
        keys = value.replace(",", " ").split() if name == entry.CLIENT_KEYS else ([value] if value else [])
        bad = [i for i, k in enumerate(keys, 1) if not BEARER.fullmatch(k)]
        if bad and entry.CLIENT_KEYS in by_name:
            raise PdcomposeError(f"{plan.source}: {field}: {{from_env: {by_name[name]}}}: key number {bad[0]} has a "
                                 "character outside A-Z a-z 0-9 - . _ ~ + / = (the entry passes keys as bearer "
                                 "tokens); nothing was started")


def services(host: Host) -> list[str]:
    return [c.service for c in host.containers if c.role == "entry"]


def wait_healthy(plan: Plan, host: Host, access: Access, report: Reporter, timeout: float = HEALTH_TIMEOUT) -> float:
    """Seconds until the entry's /health answers 200 (nginx is up with its certificate and keys loaded) and
    its exporter serves metrics (it starts beside nginx and retries its stub_status until nginx answers);
    a PdcomposeError after `timeout`."""
    assert plan.entry is not None
    t0 = time.monotonic()
    last = ""
    asks = [Request(f"{plan.entry.status_url}/health", timeout=2),
            Request(f"{plan.entry.metrics_url}/metrics", timeout=2)]
    while time.monotonic() - t0 < timeout:
        answers = access.fetch(host, asks, via=entry.SERVICE)
        if all(a.status == 200 for a in answers):
            report.step(f"entry ready at {plan.entry.url} ({time.monotonic() - t0:.1f} s)")
            return time.monotonic() - t0
        last = "; ".join(f"{r.url}: {a.error or f'HTTP {a.status}'}" for r, a in zip(asks, answers, strict=True)
                         if a.status != 200)
        time.sleep(0.5)
    raise PdcomposeError(f"the entry on {host.name} did not become healthy within {timeout:.0f} s ({last}); "
                         f"see `pdcompose logs --host {host.name}`")
