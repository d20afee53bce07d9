"""Checks that must pass before anything starts: secrets present, contexts reachable. (Images and
ports are the doctor's fast checks, see pdcompose.doctor.)"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pdcompose.engine.reach import EngineInfo, probe_all
from pdcompose.errors import HostUnreachable, PdcomposeError
from pdcompose.plan.models import Host, SecretRef

REHEARSAL_PLACEHOLDER = "rehearsal-placeholder-secret"


def secret_variables(hosts: list[Host]) -> set[str]:
    names = {s.from_env for h in hosts for s in h.secrets}
    names |= {v.from_env for h in hosts for c in h.containers for v in c.env.values() if isinstance(v, SecretRef)}
    return names


def missing_secrets(hosts: list[Host]) -> list[str]:
    """The variables the hosts' files read at `up` that this environment does not set (reads only)."""
    return sorted(n for n in secret_variables(hosts) if not os.environ.get(n))


def unset_secrets_error(missing: list[str], hosts: Sequence[Host] = ()) -> PdcomposeError:
    fields = _fields(hosts)
    named = [f"{fields[n]}: {{from_env: {n}}}" for n in missing if n in fields]
    where = f"; nothing was started ({', '.join(named)})" if named else ""
    return PdcomposeError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the topology "
                          f"reads secrets from your environment when the containers start (export it first){where}")


def _fields(hosts: Sequence[Host]) -> dict[str, str]:
    """variable -> the topology field that names it, for the secrets that are fields (api_key, hf_token)."""
    return {s.from_env: s.name.replace("entry_", "entry.", 1) for h in hosts for s in h.secrets}


def require_reachable(hosts: list[Host], timeout: float) -> dict[str, EngineInfo]:
    results = probe_all({h.name: h.context for h in hosts}, timeout)
    dead = [r for r in results.values() if isinstance(r, HostUnreachable)]
    if dead:
        raise PdcomposeError("unreachable, nothing was started:\n  " + "\n  ".join(str(d) for d in dead))
    return {name: r for name, r in results.items() if isinstance(r, EngineInfo)}
