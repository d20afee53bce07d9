"""JSON Schema of the topology file, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

from typing import Any

from pdcompose.topology.models import Topology


def topology_schema() -> dict[str, Any]:
    schema = Topology.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pdcompose topology"
    defs = schema["$defs"]
    # The validators accept two shorthands pydantic cannot see: a role written as a bare list of
    # instances, and a node written as just its host name.
    for role in ("prefill", "decode"):
        described = schema["properties"][role]
        schema["properties"][role] = {"anyOf": [{"$ref": "#/$defs/Role"},
                                                {"type": "array", "items": {"$ref": "#/$defs/Instance"}}],
                                      "description": described["description"]}
    nodes = defs["Instance"]["properties"]["nodes"]
    nodes["items"] = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/Node"}]}
    return schema
