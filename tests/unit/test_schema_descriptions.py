"""Issue 24: every property of `pdcompose schema` has a description (an editor shows it on hover and
in completion): the generated JSON Schema is walked to the end, $defs, anyOf branches and inline
objects included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pdcompose.topology.jsonschema import topology_schema


def properties(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON pointer, schema) of every property declared anywhere in `node`."""
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            yield f"{where}/properties/{name}", prop
        for key, value in node.items():
            yield from properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from properties(value, f"{where}/{i}")


def test_every_property_has_a_description() -> None:
    found = list(properties(topology_schema()))
    assert len(found) >= 100             # the walk reaches them all (100 when this test was written)
    missing = [where for where, prop in found if not str(prop.get("description", "")).strip()]
    assert not missing, f"{len(missing)} of {len(found)} properties have no description:\n" + "\n".join(missing)


def test_the_walk_sees_nested_and_inline_properties() -> None:
    found = dict(properties({"properties": {"a": {"anyOf": [{"properties": {"b": {}}}]}},
                             "$defs": {"X": {"properties": {"c": {"description": "c"}}}}}))
    assert set(found) == {"#/properties/a", "#/properties/a/anyOf/0/properties/b", "#/$defs/X/properties/c"}
