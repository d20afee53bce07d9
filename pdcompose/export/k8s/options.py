"""What the user chooses for a Kubernetes export, checked before anything is derived."""

from __future__ import annotations

import re

from pdcompose.export import ExportError
from pdcompose.frozen import Frozen

# The Kubernetes release the manifests are written for and validated against (tests/k8s). 1.34 is the first
# with Dynamic Resource Allocation GA (resource.k8s.io/v1), which NVIDIA's ComputeDomain (IMEX) relies on.
KUBERNETES_VERSION = "1.34"

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")      # RFC 1123 label: namespaces
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")    # RFC 1035 label: names that become Services
# A LeaderWorkerSet's pods are <name>-<group>-<worker> and carry a controller-revision-hash label of
# <name>-<group>-<hash>: keep the names short enough for both.
MAX_PREFIX = 40


class ExportOptions(Frozen):
    namespace: str = "default"
    prefix: str                       # every object's name starts with it (default: the cluster's name)
    hf_cache_claim: str = "hf-cache"  # the PersistentVolumeClaim holding the Hugging Face cache
    secret: str                       # the Secret holding HF_TOKEN and every other {from_env} value
    rdma_resource: str = "rdma/ib"    # extended resource of the cluster's RDMA device plugin


def make_options(cluster: str, namespace: str = "default", prefix: str | None = None,
                 hf_cache_claim: str = "hf-cache", secret: str | None = None,
                 rdma_resource: str = "rdma/ib") -> ExportOptions:
    """Options with their defaults filled in from the cluster's name; a bad value is an ExportError."""
    prefix = prefix if prefix is not None else cluster.replace("_", "-")
    secret = secret if secret is not None else f"{prefix}-secrets"
    _check(namespace, DNS_LABEL, 63, "--namespace", "a DNS label (RFC 1123): lowercase letters, digits and '-', "
           "starting and ending with a letter or digit, at most 63 characters")
    _check(prefix, DNS_1035_LABEL, MAX_PREFIX, "--prefix (default: the cluster's name)",
           "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, "
           f"at most {MAX_PREFIX} characters (the LeaderWorkerSet pods' names are built from it)")
    for value, flag in ((hf_cache_claim, "--hf-cache-claim"), (secret, "--secret")):
        _check(value, re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"), 253, flag,
               "a Kubernetes object name (RFC 1123 subdomain): lowercase letters, digits, '-' and '.'")
    if not re.fullmatch(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", rdma_resource):
        raise ExportError(f"--rdma-resource: {rdma_resource!r} is not an extended resource name (e.g. rdma/ib)")
    return ExportOptions(namespace=namespace, prefix=prefix, hf_cache_claim=hf_cache_claim, secret=secret,
                         rdma_resource=rdma_resource)


def _check(value: str, pattern: re.Pattern[str], limit: int, flag: str, what: str) -> None:
    if not pattern.fullmatch(value) or len(value) > limit:
        raise ExportError(f"{flag}: {value!r} is not {what}")
