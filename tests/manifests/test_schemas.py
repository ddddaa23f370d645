"""The JSON Schemas are standard draft 2020-12, strict, and documented field by field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.manifests.schema_check import load_schema
from reconciler.vocabulary.kinds import Kind
from tests.conftest import ROOT

SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def test_one_schema_per_kind() -> None:
    assert sorted(p.name for p in SCHEMAS) == sorted(f"{k.lower()}.schema.json" for k in Kind)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_field_is_described_and_objects_are_closed(path: Path) -> None:
    schema = json.loads(path.read_text())
    for where, node in walk(schema):
        for name, prop in (
            node.get("properties", {}).items() if where.endswith(("#", "items")) or "properties" in node else []
        ):
            assert "description" in prop, f"{path.name}: {where}/properties/{name} has no description"
        if node.get("type") == "object" and "properties" in node and not where.endswith("/inputs"):
            assert node.get("additionalProperties") is False, f"{path.name}: {where} lets typos pass"


def test_packaged_schemas_are_the_repository_schemas() -> None:
    for kind in Kind:
        assert load_schema(kind) == json.loads((ROOT / "schemas" / f"{kind.lower()}.schema.json").read_text())


def test_every_name_pattern_is_the_one_dns_label() -> None:
    from reconciler.vocabulary.keys import DNS_LABEL

    for kind in Kind:
        schema = json.loads((ROOT / "schemas" / f"{kind.lower()}.schema.json").read_text())
        assert schema["properties"]["metadata"]["properties"]["name"]["pattern"] == DNS_LABEL.pattern
