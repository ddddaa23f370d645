"""Check a parsed manifest against the JSON Schema of its kind, with messages for people."""

from __future__ import annotations

import difflib
import json
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from reconciler.manifests.findings import FieldPath, Finding, format_field_path
from reconciler.manifests.yamldoc import YamlDoc
from reconciler.vocabulary.keys import DNS_LABEL, DNS_RULE

_JSON_TYPES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def schema_path(kind: str) -> Any:
    """The packaged schema file for a kind (a Traversable)."""
    return files("reconciler") / "schemas" / f"{kind.lower()}.schema.json"


@cache
def load_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_path(kind).read_text(encoding="utf-8"))
    return schema


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(kind), format_checker=jsonschema.FormatChecker())


def _describe(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _message(err: ValidationError) -> str:
    kind, value = err.validator, err.instance
    expected: Any = err.validator_value
    schema: dict[str, Any] = err.schema if isinstance(err.schema, dict) else {}
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        return f"must be {' or '.join(str(n) for n in names)}, not {_describe(value)}"
    if kind == "const":
        return f"must be {expected!r}, not {value!r}"
    if kind == "enum":
        return f"must be one of {', '.join(repr(v) for v in expected)}; got {value!r}"
    if kind == "pattern" and expected == DNS_LABEL.pattern:
        return f"{value!r} is not a DNS label: {DNS_RULE}"
    if kind == "pattern":
        return f"{value!r} does not match the pattern {expected}"
    if kind in ("minProperties", "maxProperties") and schema.get("minProperties") == schema.get("maxProperties") == 1:
        return f"set exactly one of: {', '.join(schema.get('properties', {}))}"
    if kind == "uniqueItems":
        return "has duplicate items"
    return err.message


def _error_findings(err: ValidationError, doc: YamlDoc, file: str, base: FieldPath) -> list[Finding]:
    path: FieldPath = (*base, *err.absolute_path)
    schema: dict[str, Any] = err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "required":
        required: Any = err.validator_value
        instance: Any = err.instance
        missing = [name for name in required if name not in instance]
        line, col = doc.position(path, key=True)
        return [
            Finding(file, line, col, format_field_path((*path, name)), f"missing required field {name!r}", "schema")
            for name in missing
        ]
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(schema.get("properties", {}))
        out = []
        for key in err.instance:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
            line, col = doc.position((*path, key), key=True)
            out.append(
                Finding(file, line, col, format_field_path((*path, key)), f"unknown field {key!r}; {hint}", "schema")
            )
        return out
    line, col = doc.position(path)
    return [Finding(file, line, col, format_field_path(path), _message(err), "schema")]


def check_schema(doc: YamlDoc, file: str, kind: str) -> list[Finding]:
    """Findings for `doc` against the schema of `kind`; empty when valid."""
    findings: dict[Finding, None] = {}  # jsonschema reports `required` once per missing field
    for err in _validator(kind).iter_errors(doc.data):
        findings.update(dict.fromkeys(_error_findings(err, doc, file, ())))
    return list(findings)


@lru_cache(maxsize=4096)
def _schema_error(canonical: str) -> tuple[FieldPath, str] | None:
    """Meta-schema check of one embedded schema, cached by content: it costs ~0.7 ms each."""
    try:
        jsonschema.Draft202012Validator.check_schema(json.loads(canonical))
    except jsonschema.SchemaError as err:
        return tuple(err.absolute_path), err.message
    return None


def check_output_schema(doc: YamlDoc, file: str, path: FieldPath) -> list[Finding]:
    """Findings if the JSON Schema embedded at `path` is itself not a valid draft 2020-12 schema."""
    value: Any = doc.data
    for part in path:
        value = value[part]
    error = _schema_error(json.dumps(value, sort_keys=True))
    if error is None:
        return []
    where = (*path, *error[0])
    line, col = doc.position(where)
    return [Finding(file, line, col, format_field_path(where), f"not a valid JSON Schema: {error[1]}", "schema")]
