"""Read one YAML manifest safely, keeping the line and column of every node.

PyYAML's loaders accept things a control plane must refuse (duplicate keys, alias bombs,
unbounded nesting that overflows the stack). This reader walks libyaml's event stream
iteratively, enforces limits as it goes, and builds plain JSON-like data plus a map from
field path to source position, so that every later error can name a line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.findings import FieldPath, Finding, FindingError, format_field_path

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000

try:
    _Parser: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml is in every pyyaml wheel
    _Parser = yaml.SafeLoader


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 implicit typing without timestamps: dates stay strings, as JSON expects."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_RESOLVER = _Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()

Position = tuple[int, int]


@dataclass(slots=True)
class YamlDoc:
    """A parsed manifest: its data and the 1-based (line, column) of each value and key."""

    data: Any
    marks: dict[FieldPath, Position] = field(default_factory=dict)
    key_marks: dict[FieldPath, Position] = field(default_factory=dict)

    def position(self, path: FieldPath, *, key: bool = False) -> Position:
        """Position of the node at `path`, or of its nearest ancestor that has one."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        for end in range(len(path), -1, -1):
            pos = self.marks.get(path[:end])
            if pos is not None:
                return pos
        return (1, 1)


def _error(file: str, pos: Position, message: str, path: FieldPath = ()) -> FindingError:
    return FindingError(Finding(file, pos[0], pos[1], format_field_path(path), message, "yaml"))


def _pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _decode(data: bytes, file: str) -> str:
    if len(data) > MAX_BYTES:
        raise _error(file, (1, 1), f"file is {len(data):,} bytes, over the {MAX_BYTES:,}-byte limit")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = exc.start - (head.rfind(b"\n") + 1) + 1
        raise _error(file, (line, column), f"not valid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def _scalar(event: Any, file: str, path: FieldPath) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        if tag == "!" or not event.implicit[0]:
            return event.value
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag not in _SCALAR_TAGS:
        raise _error(file, _pos(event.start_mark), f"YAML tag {tag!r} is not allowed", path)
    if tag == _STR:
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
    except (ValueError, yaml.YAMLError):
        raise _error(file, _pos(event.start_mark), f"{event.value!r} is not a valid {tag.rsplit(':', 1)[-1]}", path) from None


class _Frame:
    __slots__ = ("container", "key", "path")

    def __init__(self, container: dict[str, Any] | list[Any], path: FieldPath) -> None:
        self.container = container
        self.path = path
        self.key: str | None = None


def parse_yaml(data: bytes, file: str) -> YamlDoc:
    """Parse exactly one YAML document into JSON-like data; raise FindingError on anything unsafe."""
    text = _decode(data, file)
    doc = YamlDoc(None)
    stack: list[_Frame] = []
    documents = 0
    nodes = 0
    root_set = False
    try:
        for event in yaml.parse(text, Loader=_Parser):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _error(file, _pos(event.start_mark), "more than one YAML document; put one manifest in each file")
                continue
            if not isinstance(event, yaml.NodeEvent):
                if isinstance(event, yaml.CollectionEndEvent):
                    stack.pop()
                continue
            top = stack[-1] if stack else None
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                what = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
                where = top.path if top else ()
                raise _error(file, _pos(event.start_mark), f"YAML {what}s are not allowed in manifests; write the value out", where)
            nodes += 1
            if nodes > MAX_NODES:
                raise _error(file, _pos(event.start_mark), f"more than {MAX_NODES:,} YAML nodes")
            # A mapping key: a scalar read verbatim (no implicit typing, so `on:` stays "on").
            if top is not None and isinstance(top.container, dict) and top.key is None:
                if not isinstance(event, yaml.ScalarEvent):
                    raise _error(file, _pos(event.start_mark), "mapping keys must be plain strings", top.path)
                key = event.value
                if key in top.container:
                    first = doc.key_marks.get((*top.path, key), (0, 0))
                    raise _error(file, _pos(event.start_mark), f"duplicate key {key!r} (first at line {first[0]})", (*top.path, key))
                top.key = key
                doc.key_marks[(*top.path, key)] = _pos(event.start_mark)
                continue
            if top is None:
                path: FieldPath = ()
            elif isinstance(top.container, dict):
                path = (*top.path, top.key)  # type: ignore[arg-type]
            else:
                path = (*top.path, len(top.container))
            doc.marks[path] = _pos(event.start_mark)
            if isinstance(event, yaml.ScalarEvent):
                value: Any = _scalar(event, file, path)
            else:
                if event.tag not in (None, "!") and event.tag not in _COLLECTION_TAGS:
                    raise _error(file, _pos(event.start_mark), f"YAML tag {event.tag!r} is not allowed", path)
                if len(stack) >= MAX_DEPTH:
                    raise _error(file, _pos(event.start_mark), f"nested more than {MAX_DEPTH} levels deep")
                value = {} if isinstance(event, yaml.MappingStartEvent) else []
            if top is None:
                doc.data, root_set = value, True
            elif isinstance(top.container, dict):
                top.container[top.key] = value  # type: ignore[index]
                top.key = None
            else:
                top.container.append(value)
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append(_Frame(value, path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None and "\t" in text[max(mark.index - 1, 0) : mark.index + 1]:
            problem += " (a tab: YAML is indented with spaces only)"
        raise _error(file, _pos(mark), f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise _error(file, (1, 1), f"YAML error: {exc}") from None
    if not root_set:
        raise _error(file, (1, 1), "empty file; expected one manifest")
    return doc
