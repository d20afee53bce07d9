"""`pdcompose models pull`: each host (one per shared cache) downloads the pinned revision itself, with
huggingface_hub in a helper container of the deployment's own vLLM image (it has huggingface_hub; the
mock's image does not), the host's cache mounted.

The token (the topology's `hf_token: {from_env: VAR}`) goes down the helper's stdin and into a file on a
tmpfs inside it: never an argument, an environment variable, a file on disk or a line of output. HF_ENDPOINT
(a mirror, or the local hub of the tests) is passed as is: it is no secret. An interrupted pull leaves
huggingface_hub's `.incomplete` files, which the next pull resumes with Range requests."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from pdcompose.engine import agent
from pdcompose.engine.fanout import each_or_error
from pdcompose.errors import PdcomposeError
from pdcompose.models.inventory import inventory, revision, vllm_image
from pdcompose.plan.models import Host, Plan
from pdcompose.progress import Reporter

AT_ONCE = 8          # hosts downloading at once: each has its own link to the hub


@dataclass
class PullReport:
    commits: dict[str, str] = field(default_factory=dict)      # host -> the commit it now holds
    bytes: dict[str, int] = field(default_factory=dict)        # host -> bytes fetched by this run
    shared: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def token_of(plan: Plan) -> str:
    """The token's value from the operator's environment ("" without `hf_token:`: public models)."""
    secret = next((s for s in plan.secrets if s.name == "hf_token"), None)
    if secret is None:
        return ""
    value = os.environ.get(secret.from_env, "")
    if not value:
        raise PdcomposeError(f"hf_token: {{from_env: {secret.from_env}}}, but {secret.from_env} is not set here: "
                             f"export it (the hosts get it as a secret, never in a file or an argument)")
    return value


def pull(plan: Plan, hosts: list[Host], progress: Reporter, endpoint: str | None = None, timeout: float = 30.0,
         at_once: int = AT_ONCE) -> PullReport:
    t0 = time.monotonic()
    token = token_of(plan)
    inv = inventory(plan, hosts, timeout)
    report = PullReport()
    report.failed |= {n: c.error for n, c in inv.caches.items() if c.error}
    targets = []
    for names in inv.groups().values():
        if not inv.caches[names[0]].error:
            targets.append(names[0])
            report.shared |= {n: names[0] for n in names[1:]}
    by_name = {h.name: h for h in hosts}
    env = {"HF_HUB_OFFLINE": "0", **({"HF_ENDPOINT": endpoint} if endpoint else {})}
    results = each_or_error(lambda n: _pull(by_name[n], plan.model, revision(plan), token, env, progress),
                            targets, limit=at_once)
    for name, result in zip(targets, results, strict=True):
        if isinstance(result, Exception):
            report.failed[name] = str(result).removeprefix(f"{name}: ")
        else:
            report.commits[name], report.bytes[name] = result
    report.seconds = time.monotonic() - t0
    return report


def _pull(host: Host, repo: str, rev: str, token: str, env: dict[str, str], progress: Reporter) -> tuple[str, int]:
    assert host.hf_cache
    key, seen, first, commit, done = host.name, 0, 0, "", False
    job = ["pull", host.hf_cache, repo, rev]
    with agent.Session(host, vllm_image(host), host.hf_cache, job, env=env, secrets_tmpfs=True) as session:
        session.stdin.write(token.encode() + b"\n")       # stdin stays open: its end stops the helper
        session.stdin.flush()
        for line in session.lines():
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if "error" in msg:
                raise PdcomposeError(f"{msg['error']}: models pull runs in the deployment's vLLM image")
            if "total" in msg:
                commit, first = msg["commit"], msg["bytes"]
                progress.start(key, f"{host.name}: {repo}@{commit[:12]}" + (
                    f" (resuming from {first / 1e6:.1f} MB)" if first else ""), msg["total"])
                progress.advance(key, first)
                seen = first
            elif "bytes" in msg and commit:
                progress.advance(key, max(msg["bytes"] - seen, 0))
                seen = max(seen, msg["bytes"])
            done = done or bool(msg.get("done"))
            if done:
                break
        code = session.wait()
        if not done or code != 0:
            raise session.failure(f"downloading {repo}@{rev} on {host.name}")
    progress.finish(key, f"{(seen - first) / 1e6:.1f} MB fetched, {commit[:12]} complete")
    return commit, seen - first
