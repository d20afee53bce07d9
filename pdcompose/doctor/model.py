"""What doctor finds: one result per check per host, each failure with the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from pdcompose.hardware import GDRCOPY, IMEX, INFINIBAND, NVIDIA_RUNTIME

Status = Literal["pass", "warn", "fail", "skip"]

# Display order. engine first: when it fails, every other check of that host is skipped.
CHECKS = ("engine", "arch", "images", "address", "interface", "ports", NVIDIA_RUNTIME, "gpus", INFINIBAND, IMEX,
          GDRCOPY, "devices", "hf-cache", "weights", "firewall")
FAST = ("engine", "arch", "images", "interface", "ports")     # what deploy runs before it starts anything


@dataclass(frozen=True)
class CheckResult:
    host: str
    check: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def line(self) -> str:
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{self.host}: {self.check}: {self.detail}{fix}"

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def passed(host: str, check: str, detail: str) -> CheckResult:
    return CheckResult(host, check, "pass", detail)


def warned(host: str, check: str, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(host, check, "warn", detail, fix)


def failed(host: str, check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(host, check, "fail", detail, fix)


def skipped(host: str, check: str, why: str) -> CheckResult:
    return CheckResult(host, check, "skip", why)


def ordered(results: list[CheckResult], hosts: list[str]) -> list[CheckResult]:
    rank = {name: i for i, name in enumerate(CHECKS)}
    where = {name: i for i, name in enumerate(hosts)}
    return sorted(results, key=lambda r: (where.get(r.host, len(where)), rank.get(r.check, len(rank))))


def summary(results: list[CheckResult]) -> dict[str, int]:
    counts = {"pass": 0, "warn": 0, "fail": 0, "skip": 0}
    for r in results:
        counts[r.status] += 1
    return counts
