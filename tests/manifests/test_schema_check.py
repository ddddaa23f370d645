"""The quick schema check (`schema_check._compile`) accepts only what jsonschema accepts, and
accepts every valid manifest, so that jsonschema runs (and words the findings) only for the
documents that have some."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifests.loader import DirSource, load
from reconciler.manifests.schema_check import _KNOWN, _quick, _validator, check_schema, load_schema
from reconciler.manifests.yamldoc import YamlDoc
from reconciler.vocabulary.kinds import Kind
from tests.conftest import EXAMPLES

VALID = [
    (mf.location.kind, mf.doc.data)
    for example in ("loan-approval", "code-swarm")
    for mf in load(DirSource(EXAMPLES / example)).manifests()
    if mf.obj is not None and mf.doc is not None
]


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(schema, dict):
        return
    yield schema
    for sub in schema.get("properties", {}).values():
        yield from subschemas(sub)
    for key in ("additionalProperties", "propertyNames", "items"):
        yield from subschemas(schema.get(key))


def property_names() -> list[str]:
    return sorted({name for kind in Kind for s in subschemas(load_schema(kind)) for name in s.get("properties", {})})


def test_every_kind_of_manifest_is_in_the_examples() -> None:
    assert {kind for kind, _ in VALID} == set(Kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_schema_is_understood_whole(kind: Kind) -> None:
    """A keyword the quick check does not know would send every document to jsonschema."""
    for node in subschemas(load_schema(kind)):
        assert node.keys() <= _KNOWN, node.keys() - _KNOWN


def test_every_valid_example_passes_the_quick_check() -> None:
    for kind, data in VALID:
        assert _quick(kind)(data), (kind, data)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2000),
    st.sampled_from([1.0, 2.5, -1.0, float("inf"), float("nan"), "", "x" * 300, "Bad Name", "a", "main", "b/c"]),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(property_names()), st.text(max_size=6)), inner, max_size=3),
    ),
    max_leaves=8,
)


def containers(node: Any) -> Iterator[dict[str, Any] | list[Any]]:
    if isinstance(node, dict | list):
        yield node
        for child in node.values() if isinstance(node, dict) else node:
            yield from containers(child)


@st.composite
def mutants(draw: st.DrawFn) -> tuple[Kind, Any]:
    """A valid example with one to three changes: a value replaced, a field dropped or added."""
    kind, data = draw(st.sampled_from(VALID))
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(list(containers(data))))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target))) if target and action != "add" else None
            if key is None:
                target[draw(st.one_of(st.sampled_from(property_names()), st.text(max_size=6)))] = draw(values)
            elif action == "drop":
                del target[key]
            else:
                target[key] = draw(values)
        elif target and action != "add":
            i = draw(st.integers(0, len(target) - 1))
            if action == "drop":
                del target[i]
            else:
                target[i] = draw(values)
        else:
            target.append(draw(st.one_of(values, st.sampled_from(target) if target else values)))
    return kind, data


@settings(max_examples=2000, deadline=None)
@given(case=mutants())
def test_the_quick_check_accepts_only_what_jsonschema_accepts(case: tuple[Kind, Any]) -> None:
    kind, data = case
    if _quick(kind)(data):
        assert _validator(kind).is_valid(data)
    else:  # jsonschema decides: findings exactly when it finds errors
        assert bool(check_schema(YamlDoc(data), "f.yaml", kind)) != _validator(kind).is_valid(data)


def test_what_the_quick_check_leaves_to_jsonschema() -> None:
    """An integer written 5.0 is not one to the quick check, and is to jsonschema: no finding."""
    kind, task = next((k, d) for k, d in VALID if k == Kind.TASK)
    data = copy.deepcopy(task)
    data["spec"]["priority"] = 5.0
    assert not _quick(kind)(data)
    assert check_schema(YamlDoc(data), "f.yaml", kind) == []
    data["spec"]["priority"] = True  # a boolean is not an integer, for both
    assert not _quick(kind)(data)
    assert [f.field for f in check_schema(YamlDoc(data), "f.yaml", kind)] == ["spec.priority"]
