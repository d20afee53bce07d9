"""`entry:` in the topology: a TLS front door for the router (nginx, pdcompose/entry), with the operator's
certificate and client API keys. The certificate, its key and the client keys are secrets: never written in
the topology (a file path or an environment variable's name only), delivered to the container as Compose
secrets at deploy time.

The certificate and its key are checked when the topology is read (validate, plan, render, deploy): a
certificate that does not parse, has expired or is not yet valid, a key that is not its key, each an error
naming the field. A key in an environment variable is checked where the variable is set (always at deploy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from pdcompose.errors import Issue
from pdcompose.frozen import Strict
from pdcompose.topology.source import Loc, Source
from pdcompose.topology.types import FromEnv, ImageRef

Port = Annotated[int, Field(ge=1, le=65535)]
EXPIRY_WARNING = timedelta(days=14)


class FromFile(Strict):
    """A file on the machine running pdcompose (relative to the topology's folder), read at deploy time."""

    from_file: str = Field(min_length=1, max_length=4096, pattern=r"^[^\x00\n]+$", description=(
        "a PEM file's path on the machine running pdcompose (relative: to the topology's folder)"))


def _source(what: str, *, files: bool, env: bool) -> Any:
    ways = " or ".join([*(["{from_file: path}"] if files else []), *(["{from_env: VAR}"] if env else [])])

    def check(value: Any) -> Any:
        if isinstance(value, FromFile | FromEnv) or value is None:
            return value
        if isinstance(value, dict) and files and set(value) == {"from_file"}:
            return value
        if isinstance(value, dict) and env and set(value) == {"from_env"}:
            return value
        raise ValueError(f"{what} is never written in the topology itself (it would land in plain text in "
                         f"every rendered file): write {ways}")
    return BeforeValidator(check)


class Entry(Strict):
    port: Port = Field(443, description="the port clients call (HTTPS); the only one open to everyone")
    certificate: Annotated[FromFile, _source("the certificate", files=True, env=False)] = Field(description=(
        "{from_file: path}: the server certificate in PEM (the chain after it), checked: not expired, matches key"))
    key: Annotated[FromFile | FromEnv, _source("the certificate's private key", files=True, env=True)] = Field(
        description="{from_file: path} or {from_env: VAR}: the certificate's private key in PEM, unencrypted")
    client_keys: Annotated[FromEnv, _source("a client key", files=False, env=True)] = Field(description=(
        "{from_env: VAR}: the API keys clients send as `Authorization: Bearer <key>`; several separated by "
        "commas or spaces (characters A-Z a-z 0-9 - . _ ~ + / =); bench sends the first"))
    ca: Annotated[FromFile | None, _source("the CA", files=True, env=False)] = Field(None, description=(
        "{from_file: path}: the CA certificate clients (bench) check the entry's certificate with (default: "
        "the system's trust store)"))
    status_port: Port = Field(18443, description="nginx's /health and stub_status, on the host's address")
    metrics_port: Port = Field(9113, description="the entry's Prometheus metrics (prometheus-nginx-exporter)")
    image: ImageRef | None = Field(None, description="the entry image (default: pdcompose/entry, built by "
                                                     "images/build.sh entry)")


@dataclass(frozen=True)
class Material:
    """The entry's secrets as they will be delivered: PEM text, from a file or the environment."""

    certificate: bytes
    key: bytes | None                # None: its variable is not set here (checked again at deploy)


def file_path(ref: FromFile, base_dir: Path) -> Path:
    path = Path(os.path.expanduser(ref.from_file))
    return path if path.is_absolute() else (base_dir / path).resolve()


def issues(entry: Entry, source: Source, base_dir: Path, now: datetime | None = None) -> list[Issue]:
    """Located errors (and warnings) about the entry's certificate, key and CA files."""
    out: list[Issue] = []
    cert_loc: Loc = ("entry", "certificate", "from_file")
    cert_pem = _read(file_path(entry.certificate, base_dir), cert_loc, "the certificate", source, out)
    key_pem = None
    key_loc: Loc = ("entry", "key", "from_file") if isinstance(entry.key, FromFile) else ("entry", "key", "from_env")
    if isinstance(entry.key, FromFile):
        key_pem = _read(file_path(entry.key, base_dir), key_loc, "the key", source, out)
    elif os.environ.get(entry.key.from_env):
        key_pem = os.environ[entry.key.from_env].encode()
    if entry.ca is not None:
        ca_loc: Loc = ("entry", "ca", "from_file")
        ca_pem = _read(file_path(entry.ca, base_dir), ca_loc, "the CA", source, out)
        if ca_pem is not None and (problem := _certificate_problem(ca_pem, now, "the CA certificate")):
            out.append(source.issue("entry-ca", ca_loc, problem))
    if cert_pem is None:
        return out
    for problem in check_material(Material(cert_pem, key_pem), now):
        loc = key_loc if problem.startswith("the key") else cert_loc
        out.append(source.issue("entry-certificate", loc, problem))
    if not out and (soon := expires_soon(cert_pem, now)):
        out.append(source.issue("entry-certificate-expiring", cert_loc, soon, "warning"))
    return out


def check_material(m: Material, now: datetime | None = None) -> list[str]:
    """What is wrong with a certificate and its key (never showing the key): [] when they can serve."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if problem := _certificate_problem(m.certificate, now, "the certificate"):
        return [problem]
    leaf = x509.load_pem_x509_certificates(m.certificate)[0]
    if m.key is None:
        return []
    try:
        key = serialization.load_pem_private_key(m.key, password=None)
    except TypeError:
        return ["the key is encrypted with a passphrase: nginx needs it unencrypted (openssl pkey -in K -out K2)"]
    except ValueError:
        return ["the key is not a PEM private key (-----BEGIN PRIVATE KEY----- or an RSA/EC key)"]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return [f"the key is not the certificate's: the certificate ({_subject(leaf)}) holds the public half of "
                "another private key (give the key it was issued for, or the certificate issued for this key)"]
    return []


def expires_soon(cert_pem: bytes, now: datetime | None = None) -> str | None:
    from cryptography import x509

    leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    left = leaf.not_valid_after_utc - (now or datetime.now(UTC))
    if left < EXPIRY_WARNING:
        when = f"{leaf.not_valid_after_utc:%Y-%m-%d}"
        return f"the certificate ({_subject(leaf)}) expires in {left.days} day(s), on {when}"
    return None


def _certificate_problem(pem: bytes, now: datetime | None, what: str) -> str | None:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return f"{what} is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
    leaf = certs[0]
    now = now or datetime.now(UTC)
    if leaf.not_valid_after_utc <= now:
        return f"{what} ({_subject(leaf)}) expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if leaf.not_valid_before_utc > now:
        return f"{what} ({_subject(leaf)}) is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return None


def _subject(cert: Any) -> str:
    return str(cert.subject.rfc4514_string() or "no subject")


def _read(path: Path, loc: Loc, what: str, source: Source, out: list[Issue]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        out.append(source.issue("entry-file", loc, f"{what}: cannot read {path}: {exc.strerror or exc}"))
        return None
