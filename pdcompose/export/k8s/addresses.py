"""Which hosts' addresses a value names, in time linear in the value's length (not in the host count).

An address counts where it stands on its own: not preceded or followed by a word character or a dot
(10.0.0.1 is in "10.0.0.1:8087" but not in "10.0.0.10"). Every maximal run of word characters and dots
in an address is then also a maximal run in the value (the address's other characters, and the
boundaries around it, end the run), so the runs of a value select the few candidate addresses from an
index, and only those are searched for, with the exact rule. Searching every value for every address
was the export's quadratic cost: 15 M searches at 512 hosts; past 512 addresses every search also
recompiled its pattern (the `re` module caches 512), 50 times the cost per container at 1024 hosts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RUN = re.compile(r"[\w.]+")


def _exact(address: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.]){re.escape(address)}(?![\w.])")


class AddressFinder:
    """`find(value)` -> the addresses in `value`, in the order they were given (duplicates once)."""

    def __init__(self, addresses: Iterable[str]):
        self._order = {a: i for i, a in enumerate(dict.fromkeys(addresses))}
        self._by_run: dict[str, list[str]] = {}
        self._always: list[str] = []          # addresses with no run to index (all punctuation): always searched
        for address in self._order:
            runs = RUN.findall(address)
            if runs:
                self._by_run.setdefault(max(runs, key=len), []).append(address)
            else:
                self._always.append(address)
        self._patterns: dict[str, re.Pattern[str]] = {}

    def find(self, value: str) -> list[str]:
        candidates = [a for run in set(RUN.findall(value)) for a in self._by_run.get(run, ())] + self._always
        found = [a for a in candidates if self._pattern(a).search(value)]
        return sorted(set(found), key=self._order.__getitem__)

    def _pattern(self, address: str) -> re.Pattern[str]:
        pattern = self._patterns.get(address)
        if pattern is None:
            pattern = self._patterns[address] = _exact(address)
        return pattern
