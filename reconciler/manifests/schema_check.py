"""Check a parsed manifest against the JSON Schema of its kind, with messages for people."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable
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


Check = Callable[[Any], bool]

# What `_compile` understands; a schema node with any other keyword is always left to jsonschema.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples"})
_OBJECT = frozenset(
    {"properties", "additionalProperties", "required", "propertyNames", "minProperties", "maxProperties"}
)
_ARRAY = frozenset({"items", "uniqueItems", "minItems", "maxItems"})
_STRING = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER = frozenset({"minimum", "maximum"})
_KNOWN = _ANNOTATIONS | _OBJECT | _ARRAY | _STRING | _NUMBER | {"type", "const", "enum"}
_TYPES: dict[str, Check] = {  # exact types: bool is not an integer, 1.0 is left to jsonschema
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "integer": lambda x: type(x) is int,
    "number": lambda x: type(x) is int or type(x) is float,
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
}


def _accept(x: Any) -> bool:
    return True


def _reject(x: Any) -> bool:
    return False


# Each keyword group checks the values of its own type and passes others, unless `typed` (the
# schema's `type` is that one type): then another type fails there, without a check of its own.
# Loops rather than all() over a generator, which doubles the cost of a check.


def _object(schema: dict[str, Any], typed: bool) -> Check:
    props = {name: _compile(sub) for name, sub in schema.get("properties", {}).items()}
    rest, names = _compile(schema.get("additionalProperties", True)), _compile(schema.get("propertyNames", True))
    required = frozenset(schema.get("required", ()))
    low, high = schema.get("minProperties", 0), schema.get("maxProperties", math.inf)

    def check(x: Any) -> bool:
        if type(x) is not dict:
            return not typed
        if not (low <= len(x) <= high and x.keys() >= required):
            return False
        for key, value in x.items():  # noqa: SIM110
            if not (names(key) and props.get(key, rest)(value)):
                return False
        return True

    return check


def _array(schema: dict[str, Any], typed: bool) -> Check:
    items, unique = _compile(schema.get("items", True)), schema.get("uniqueItems", False)
    low, high = schema.get("minItems", 0), schema.get("maxItems", math.inf)

    def check(x: Any) -> bool:
        if type(x) is not list:
            return not typed
        if not low <= len(x) <= high:
            return False
        if unique and not (all(type(i) is str for i in x) and len(set(x)) == len(x)):
            return False  # only lists of strings are compared here
        for item in x:  # noqa: SIM110
            if not items(item):
                return False
        return True

    return check


def _string(schema: dict[str, Any], typed: bool) -> Check:
    low, high = schema.get("minLength", 0), schema.get("maxLength", math.inf)
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None

    def check(x: Any) -> bool:
        if type(x) is not str:
            return not typed
        return low <= len(x) <= high and (search is None or search(x) is not None)

    return check


def _number(schema: dict[str, Any], typed: bool) -> Check:
    low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
    return lambda x: low <= x <= high if type(x) is int or type(x) is float else not typed


def _one_of(values: list[Any]) -> Check:
    if not all(v is None or type(v) in (str, int, bool) for v in values):
        return _reject
    return lambda x: any(type(x) is type(v) and x == v for v in values)


_GROUPS = (
    (_OBJECT, "object", _object),
    (_ARRAY, "array", _array),
    (_STRING, "string", _string),
    (_NUMBER, "number", _number),
)


def _compile(schema: Any) -> Check:
    """A check that accepts only what the schema accepts, much faster than jsonschema's walk. It
    may reject more (a keyword it does not know, 1.0 as an integer, a list of non-strings to keep
    unique): jsonschema then decides, and words the findings."""
    if schema is True:
        return _accept
    if not isinstance(schema, dict) or schema.keys() - _KNOWN:
        return _reject
    kind = schema.get("type")
    groups = {name: make for words, name, make in _GROUPS if not words.isdisjoint(schema)}
    checks = [make(schema, kind == name) for name, make in groups.items()]
    if kind is not None and not (isinstance(kind, str) and kind in groups):
        types = [_TYPES.get(name, _reject) for name in (kind if isinstance(kind, list) else [kind])]
        checks.append(types[0] if len(types) == 1 else lambda x: any(t(x) for t in types))
    if "const" in schema:
        checks.append(_one_of([schema["const"]]))
    if "enum" in schema:
        checks.append(_one_of(schema["enum"]))
    if len(checks) > 1:
        return lambda x: all(c(x) for c in checks)
    return checks[0] if checks else _accept


@cache
def _quick(kind: str) -> Check:
    return _compile(load_schema(kind))


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
    if _quick(kind)(doc.data):
        return []
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
