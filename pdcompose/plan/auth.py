"""The cluster's API key (`api_key: {from_env: VAR}`): one Compose secret, read by each container's
entrypoint into the one variable its program reads, so the key is never in argv, an env file, the
Compose file or `docker inspect` (only in the process's own environment, as vLLM and the router need it).

What the key protects, in vLLM 0.13 (vllm/entrypoints/openai/api_server.py, AuthenticationMiddleware,
installed when --api-key or VLLM_API_KEY is non-empty): every request whose path starts with /v1 needs
`Authorization: Bearer <key>` (scheme in any case; 401 {"error": "Unauthorized"} otherwise, before
routing, so an unknown /v1 path is 401 too). OPTIONS requests and every other path are left open:
/health, /metrics, /ping, /version, /load, /tokenize, /detokenize, /pooling, /classify, /score, /rerank,
/scale_elastic_ep, /pause, /resume and /invocations (SageMaker's, which dispatches to generation). So
the key keeps clients off /v1/*; binding (`pdcompose plan`'s port table) and the host firewall are
what keep the rest of a worker's port away from other machines. pdcompose's own probes follow that:
/health, /metrics and /mock/* go without the key, /v1/models (the deploy gate) with it.

vllm-router 0.1.17 checks no client key at all; it sends `Authorization: Bearer $OPENAI_API_KEY` from its
environment to the workers (shared/notes/vllm-router-protocol.md).
"""

from __future__ import annotations

from pdcompose.plan.models import Plan

SECRET = "api_key"                          # the Compose secret: /run/secrets/api_key in the container
SECRET_PATH = f"/run/secrets/{SECRET}"
WORKER_VAR = "VLLM_API_KEY"                 # vLLM reads it like --api-key
ROUTER_VAR = "OPENAI_API_KEY"               # vllm-router sends it to the workers as a Bearer token


def keyed_entrypoint(entrypoint: list[str], variable: str) -> list[str]:
    """`entrypoint` started by /bin/sh with `variable` read from the secret file. An empty or unreadable
    file stops the container: vLLM with an empty VLLM_API_KEY would serve everyone without a key."""
    script = (f'{variable}="$(cat {SECRET_PATH})" && [ -n "${variable}" ] || '
              f'{{ echo "pdcompose: {SECRET_PATH} is missing or empty (api_key)" >&2; exit 78; }}; '
              f'export {variable}; exec "$@"')
    return ["/bin/sh", "-c", script, "pdcompose-api-key", *entrypoint]


def program(entrypoint: list[str]) -> list[str]:
    """The program a (possibly keyed) entrypoint runs: ["vllm", "serve"] for both shapes."""
    if entrypoint[:2] == ["/bin/sh", "-c"] and len(entrypoint) > 3 and entrypoint[3] == "pdcompose-api-key":
        return entrypoint[4:]
    return entrypoint


def key_variable(plan: Plan) -> str | None:
    """The deployer's variable that holds the cluster's API key, if the plan has one."""
    return next((s.from_env for s in plan.secrets if s.name == SECRET), None)
