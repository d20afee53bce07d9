"""Collect planner findings with their topology locations; raise them all at once at the end."""

from __future__ import annotations

from pdcompose.errors import Issue, Severity, TopologyError
from pdcompose.topology.source import Loc, Source

ONCE_PER_PATH = {"interface-missing"}   # one report per field, however many values trigger it


class Findings:
    def __init__(self, source: Source, warnings: tuple[Issue, ...] = ()):
        self.source = source
        self.issues: list[Issue] = list(warnings)
        self._seen: set[tuple[str, str]] = set()

    def error(self, code: str, loc: Loc, message: str) -> None:
        self._add(code, loc, message, "error")

    def warn(self, code: str, loc: Loc, message: str) -> None:
        self._add(code, loc, message, "warning")

    def _add(self, code: str, loc: Loc, message: str, severity: Severity) -> None:
        issue = self.source.issue(code, loc, message, severity)
        key = (issue.path, issue.code if code in ONCE_PER_PATH else issue.message)
        if key not in self._seen:
            self._seen.add(key)
            self.issues.append(issue)

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def raise_errors(self) -> None:
        if any(i.severity == "error" for i in self.issues):
            raise TopologyError(self.issues)
