"""The manifests' YAML writer gives ruamel's bytes (the golden files are compared as parsed YAML, so
this is where the exact bytes are held): on every case's objects and on random trees."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdcompose.export.k8s.yamlout import dump, ruamel_dump
from tests.k8s.conftest import Case

TRICKY = ["true", "1", "0x1", "~", "- a", "a: b", "#x", "'", "", "null", "1e3", "2001-01-01", "a\nb", " a", "a ",
          "$$(X)", "\x85", "a\u2028b", "\r"]      # resolved as other types, indicators, YAML's other line breaks
SCALAR = st.one_of(st.text(max_size=12), st.sampled_from(TRICKY), st.integers(), st.booleans(), st.none())
KEY = st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(["nvidia.com/gpu", "app.kubernetes.io/name", "on"]))
TREE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(KEY, inner, max_size=4)), max_leaves=25)


@given(docs=st.lists(st.dictionaries(KEY, TREE, min_size=1, max_size=4), min_size=1, max_size=3))
@settings(max_examples=300, deadline=None)
def test_random_trees_are_written_as_ruamel_writes_them(docs: list[dict[str, Any]]) -> None:
    assert dump(docs) == ruamel_dump(docs)


def test_every_case_is_written_as_ruamel_writes_it(case: Case) -> None:
    docs = case.objects()
    assert docs and dump(docs) == ruamel_dump(docs)


@pytest.mark.parametrize("docs", [[{"a": "x " * 3000}], [{1: "a"}], [{}], [{"a": 1.5}],
                                  [{"a": OrderedDict(b=1)}], [OrderedDict(a=1)]])
def test_what_the_layout_does_not_cover_goes_to_ruamel(docs: list[dict[str, Any]]) -> None:
    assert dump(docs) == ruamel_dump(docs)
