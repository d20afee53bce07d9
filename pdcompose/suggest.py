"""The one "did you mean ...?": the closest known name, or nothing when no name is close enough.

difflib's ratio alone is fooled by long shared parts: VLLM_NIXL_ABORT_REQUEST_TIMEOUT and
VLLM_MOONCAKE_ABORT_REQUEST_TIMEOUT score 0.85 although they name different connectors. So a candidate
must also be close where the two names differ: the words (split at '_', '-', '.') that one name has and
the other lacks must themselves look alike (a typo), not be different words.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

FLOOR = 0.6            # whole-name similarity (difflib ratio) below which nothing is suggested
WORD_FLOOR = 0.5       # similarity of the differing words: below it the names mean different things
_WORDS = re.compile(r"[_.\-]+")


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `word`, if it is above the floor; None otherwise."""
    known = [c for c in dict.fromkeys(candidates) if c != word]
    for match in difflib.get_close_matches(word, known, n=5, cutoff=FLOOR):
        if _differing_words_alike(word, match):
            return match
    normalised = word.replace("-", "_")      # `dp-local` for `dp_local`: the same name in other separators
    if normalised != word:
        return closest(normalised, known)
    return None


def did_you_mean(word: str, candidates: Iterable[str], show: str = "'{}'") -> str:
    """`did you mean 'x'?`, or "" when nothing is close; `show` formats the name (e.g. "--{}")."""
    match = closest(word, candidates)
    return f"did you mean {show.format(match)}?" if match else ""


def _differing_words_alike(a: str, b: str) -> bool:
    words_a, words_b = _WORDS.split(a.lower()), _WORDS.split(b.lower())
    only_a = " ".join(w for w in words_a if w not in words_b)
    only_b = " ".join(w for w in words_b if w not in words_a)
    if not only_a or not only_b:
        return True        # one name is the other plus or minus whole words: a plain omission
    return difflib.SequenceMatcher(None, only_a, only_b).ratio() >= WORD_FLOOR
