"""Is every host ready to load the same weights? Pure: an inventory in, problems out (doctor shows them,
deploy refuses on them). A prefill and a decode loading different revisions hand KV cache between two
different models: wrong tokens and no error anywhere, so a mismatch is an error, never a warning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pdcompose.models.inventory import Inventory

Kind = Literal["unreadable", "missing", "incomplete", "mismatch"]


@dataclass(frozen=True)
class Problem:
    host: str
    kind: Kind
    detail: str
    fix: str


def fix_for(kind: Kind) -> str:
    if kind == "unreadable":
        return "see the error; `pdcompose doctor` checks the engine and the cache path"
    return ("pdcompose models pull (hosts with internet access) or pdcompose models push (air-gapped: from this "
            "machine's cache), or deploy --allow-download to let vLLM download it at start")


def problems(inv: Inventory) -> list[Problem]:
    out: list[Problem] = []
    for name, c in inv.caches.items():
        if c.error:
            out.append(Problem(name, "unreadable", f"cannot read the HF cache {c.cache}: {c.error}",
                               fix_for("unreadable")))
        elif c.commit is None or c.commit not in c.snapshots:
            have = ", ".join(f"{ref}={commit[:12]}" for ref, commit in sorted(c.refs.items())) or "nothing"
            out.append(Problem(name, "missing", f"{inv.repo} revision {inv.revision} is not in {c.cache} "
                                                f"(it holds {have})", fix_for("missing")))
        elif not c.complete:
            absent = sorted(p for p, (blob, _) in c.files.items() if blob not in c.blobs)
            out.append(Problem(name, "incomplete", f"{inv.repo} {c.commit[:12]} in {c.cache} lacks "
                                                   f"{len(absent)} file(s) ({', '.join(absent[:3])})",
                               fix_for("incomplete")))
    commits = {name: c.commit for name, c in inv.caches.items() if c.commit and not c.error}
    if len(set(commits.values())) > 1:
        listing = ", ".join(f"{name} {commit}" for name, commit in commits.items())
        for name in commits:
            out.append(Problem(name, "mismatch", f"the hosts would load different revisions of {inv.repo} "
                                                 f"(revision {inv.revision}): {listing}", (
                "pin one commit with `model_revision:` in the topology, then pdcompose models push/pull "
                "so every host has it")))
    return out
