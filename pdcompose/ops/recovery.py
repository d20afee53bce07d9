"""What the group watchdogs of each multi-node instance say (their /state), summed up per instance for
`pdcompose status`: serving, recovering, waiting for a host, in a crash loop (with the last log lines of
the node that crashed last), or out of service until a person restarts it (recovery: manual)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pdcompose.plan.models import Plan


@dataclass(frozen=True)
class Recovery:
    instance: str                   # "decode-0"
    mode: str                       # auto or manual; "?" when no watchdog answered
    state: str                      # serving, recovering, waiting, crash loop, manual, unknown
    detail: str
    log: list[str] = field(default_factory=list)
    log_of: str = ""                # "decode-0-node-1 on d1 (exit 1)"

    @property
    def ok(self) -> bool:
        return self.state == "serving"

    def message(self) -> str:
        fix = f"pdcompose restart --instance {self.instance}"
        head = {"recovering": f"{self.instance} is recovering by itself (group watchdog): {self.detail}",
                "waiting": f"{self.instance} stays down, waiting for a host: {self.detail}",
                "crash loop": f"{self.instance} is in a crash loop: {self.detail}",
                "manual": f"{self.instance} is out of service (recovery: manual): run `{fix}`",
                "unknown": f"{self.instance}: {self.detail}"}.get(self.state, f"{self.instance}: {self.detail}")
        if self.log:
            head += f"\nlast lines of {self.log_of}:\n" + "\n".join(f"  {line}" for line in self.log)
        return head

    def as_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "mode": self.mode, "state": self.state, "detail": self.detail,
                "log_of": self.log_of, "log": self.log}


def parse(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "phase" in data else None


def summarize(plan: Plan, bodies: dict[str, bytes]) -> list[Recovery]:
    """bodies: watchdog service -> its /state answer (missing: it did not answer)."""
    groups: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}
    for h, c in plan.containers("watchdog"):
        name = c.labels["io.pdcompose.watches"]
        groups.setdefault(name, []).append((h.name, parse(bodies.get(c.service, b""))))
    return [one(name, members) for name, members in sorted(groups.items())]


def one(instance: str, members: list[tuple[str, dict[str, Any] | None]]) -> Recovery:
    said = [s for _, s in members if s]
    master = next((s for s in said if s.get("node") == 0), None)
    silent = [h for h, s in members if s is None]
    if master is None:
        detail = (said[0]["reason"] if said else "no group watchdog answers") + (
            f" (no answer from the watchdog on {', '.join(silent)})" if silent else "")
        return Recovery(instance, said[0]["mode"] if said else "?", "waiting" if said else "unknown", detail)
    mode, reason = master["mode"], master["reason"]
    if all(s["phase"] == "serving" for s in said) and not silent:
        return Recovery(instance, mode, "serving", reason)
    if mode == "manual" and master["phase"] == "down":
        return Recovery(instance, mode, "manual", reason)
    if "does not answer" in reason:          # a host gone: no try can succeed, whatever failed before
        return Recovery(instance, mode, "waiting", reason)
    if master.get("failures", 0) > 1:
        retry = master.get("retry_in") or 0
        reason = f"{master['failures']} failed starts in a row; " + (
            f"next try in {retry:.0f} s" if retry else reason)
        crashed = [s for s in said if s.get("last_crash")]
        last = max(crashed, key=lambda s: s["last_crash"].get("finished_at") or "", default=None)
        if last is None:
            return Recovery(instance, mode, "crash loop", reason)
        crash = last["last_crash"]
        return Recovery(instance, mode, "crash loop", reason, list(crash.get("log") or []),
                        f"{instance}-node-{last['node']} on {last['host']} (exit {crash.get('exit_code')})")
    return Recovery(instance, mode, "recovering", reason)
