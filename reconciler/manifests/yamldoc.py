"""Read one YAML manifest safely, keeping the line and column of every node.

PyYAML's loaders accept things a control plane must refuse (duplicate keys, alias bombs,
unbounded nesting that overflows the stack). This reader walks libyaml's event stream
iteratively, enforces limits as it goes, and builds plain JSON-like data plus a map from
field path to source position, so that every later error can name a line and column.

Most documents never need a position (a valid manifest has no finding to locate), so
`read_yaml` first reads the data alone, and parses the positions only when one is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import yaml

from reconciler.manifests.findings import FieldPath, Finding, FindingError, format_field_path

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
_NO_MARKS: Mapping[FieldPath, Position] = MappingProxyType({})


class YamlDoc:
    """A parsed manifest: its data and the 1-based (line, column) of each value and key.

    A document `deferred` (read by `read_yaml`, or taken from the disk cache) has its marks
    parsed again from its bytes the first time one is asked for: a valid manifest seldom needs
    one, and keeping every mark of every file would cost more than its data."""

    __slots__ = ("_file", "_key_marks", "_marks", "_source", "data")

    def __init__(
        self,
        data: Any,
        marks: Mapping[FieldPath, Position] | None = None,
        key_marks: Mapping[FieldPath, Position] | None = None,
    ) -> None:
        self.data = data
        self._marks = _NO_MARKS if marks is None else marks
        self._key_marks = _NO_MARKS if key_marks is None else key_marks
        self._file = ""
        self._source: bytes | Callable[[], bytes] | None = None

    @classmethod
    def deferred(cls, data: Any, file: str, source: bytes | Callable[[], bytes]) -> YamlDoc:
        """The document of `data`, which `parse_yaml` read from `source` (its bytes, or what
        reads them again): the marks are parsed from it when first used."""
        doc = cls(data)
        doc._file, doc._source = file, source
        return doc

    def _reparse(self) -> None:
        source = self._source
        if source is None:
            return
        try:
            doc = parse_yaml(source if isinstance(source, bytes) else source(), self._file)
        except FindingError:  # cannot happen for bytes that parsed before; no positions then
            doc = YamlDoc(None)
        # the marks before the source goes: another thread reads them, or parses them too
        self._marks, self._key_marks = doc._marks, doc._key_marks
        self._source = None

    @property
    def marks(self) -> Mapping[FieldPath, Position]:
        self._reparse()
        return self._marks

    @property
    def key_marks(self) -> Mapping[FieldPath, Position]:
        self._reparse()
        return self._key_marks

    __hash__ = None  # type: ignore[assignment]  # compared by value: unhashable

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, YamlDoc):
            return NotImplemented
        return (self.data, self.marks, self.key_marks) == (other.data, other.marks, other.key_marks)

    def position(self, path: FieldPath, *, key: bool = False) -> Position:
        """Position of the node at `path`, or of its nearest ancestor that has one."""
        marks, key_marks = self.marks, self.key_marks
        if key and path in key_marks:
            return key_marks[path]
        for end in range(len(path), -1, -1):
            pos = marks.get(path[:end])
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
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    if tag not in _SCALAR_TAGS:
        raise _error(file, _pos(event.start_mark), f"YAML tag {tag!r} is not allowed", path)
    if tag == _STR:
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
    except (ValueError, yaml.YAMLError):
        raise _error(
            file, _pos(event.start_mark), f"{event.value!r} is not a valid {tag.rsplit(':', 1)[-1]}", path
        ) from None


class _Frame:
    __slots__ = ("container", "key", "path")

    def __init__(self, container: dict[str, Any] | list[Any], path: FieldPath) -> None:
        self.container = container
        self.path = path
        self.key: str | None = None


class _Builder:
    """Turns one document's events into data and marks, refusing what is unsafe as it goes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.marks: dict[FieldPath, Position] = {}
        self.key_marks: dict[FieldPath, Position] = {}
        self.doc = YamlDoc(None, self.marks, self.key_marks)
        self.stack: list[_Frame] = []
        self.documents = 0
        self.nodes = 0
        self.root_set = False

    def fail(self, event: Any, message: str, path: FieldPath = ()) -> FindingError:
        return _error(self.file, _pos(event.start_mark), message, path)

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.fail(event, "more than one YAML document; put one manifest in each file")
        elif isinstance(event, yaml.CollectionEndEvent):
            self.stack.pop()
        elif isinstance(event, yaml.NodeEvent):
            self.node(event)

    def node(self, event: Any) -> None:
        top = self.stack[-1] if self.stack else None
        if isinstance(event, yaml.AliasEvent) or event.anchor:
            what = "aliases" if isinstance(event, yaml.AliasEvent) else "anchors"
            raise self.fail(
                event, f"YAML {what} are not allowed in manifests; write the value out", top.path if top else ()
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(event, f"more than {MAX_NODES:,} YAML nodes")
        if top is not None and isinstance(top.container, dict) and top.key is None:
            self.key(top, event)
        else:
            self.value(top, event)

    def key(self, top: _Frame, event: Any) -> None:
        """A mapping key: a scalar read verbatim (no implicit typing, so `on:` stays "on")."""
        if not isinstance(event, yaml.ScalarEvent):
            raise self.fail(event, "mapping keys must be plain strings", top.path)
        key, path = event.value, (*top.path, event.value)
        if key in top.container:
            first = self.key_marks.get(path, (0, 0))
            raise self.fail(event, f"duplicate key {key!r} (first at line {first[0]})", path)
        top.key = key
        self.key_marks[path] = _pos(event.start_mark)

    def value(self, top: _Frame | None, event: Any) -> None:
        if top is None:
            path: FieldPath = ()
        elif isinstance(top.container, dict):
            assert top.key is not None
            path = (*top.path, top.key)
        else:
            path = (*top.path, len(top.container))
        self.marks[path] = _pos(event.start_mark)
        if isinstance(event, yaml.ScalarEvent):
            value: Any = _scalar(event, self.file, path)
        else:
            if event.tag not in (None, "!") and event.tag not in _COLLECTION_TAGS:
                raise self.fail(event, f"YAML tag {event.tag!r} is not allowed", path)
            if len(self.stack) >= MAX_DEPTH:
                raise self.fail(event, f"nested more than {MAX_DEPTH} levels deep")
            value = {} if isinstance(event, yaml.MappingStartEvent) else []
        if top is None:
            self.doc.data, self.root_set = value, True
        elif isinstance(top.container, dict):
            assert top.key is not None
            top.container[top.key] = value
            top.key = None
        else:
            top.container.append(value)
        if isinstance(event, yaml.CollectionStartEvent):
            self.stack.append(_Frame(value, path))


# Errors whose context mark (where a construct opened) says more than where the parser gave up:
# an unclosed `[` or quote is reported where it opened, not at the next key or the end of file.
_OPENED_CONTEXTS = (
    "while parsing a flow sequence",
    "while parsing a flow mapping",
    "while scanning a quoted scalar",
    "while scanning a simple key",
)


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> FindingError:
    problem = exc.problem or exc.context or "invalid YAML"
    if "nesting depth" in problem:
        # libyaml has a nesting limit of its own (PyYAML >= 6.0.4): report ours, whichever hits first
        return _error(file, _pos(exc.problem_mark or exc.context_mark), f"nested more than {MAX_DEPTH} levels deep")
    context, opened, found = exc.context, exc.context_mark, exc.problem_mark
    if context in _OPENED_CONTEXTS and opened is not None and found is not None:
        what = context.removeprefix("while parsing ").removeprefix("while scanning ")
        line, column = _pos(found)
        return _error(
            file, _pos(opened), f"YAML syntax error: {what} opened here: {problem} at line {line}, column {column}"
        )
    mark = found or opened
    if mark is not None and "\t" in text[max(mark.index - 1, 0) : mark.index + 1]:
        problem += " (a tab: YAML is indented with spaces only)"
    return _error(file, _pos(mark), f"YAML syntax error: {problem}")


def parse_yaml(data: bytes, file: str) -> YamlDoc:
    """Parse exactly one YAML document into JSON-like data; raise FindingError on anything unsafe."""
    text = _decode(data, file)
    builder = _Builder(file)
    try:
        for event in yaml.parse(text, Loader=_Parser):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise _error(file, (1, 1), f"YAML error: {exc}") from None
    if not builder.root_set:
        raise _error(file, (1, 1), "empty file; expected one manifest")
    return builder.doc


class _Refused(Exception):
    """`_data_only` met something `_Builder` may refuse: it reads the file and says why."""


_NO_KEY = object()
_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)


def _data_only(text: str) -> Any:
    """The data `_Builder` builds from `text`, without positions (two thirds of the cost). Raises
    _Refused, FindingError or a YAML error wherever `_Builder` would raise (and may raise where
    it would not: an unusual file is left to it)."""
    loader = _Parser(text)
    stack: list[Any] = []  # the open collections
    keys: list[Any] = []  # for each: the key whose value comes next (_NO_KEY: a key comes next)
    root: Any = _NO_KEY
    documents = nodes = 0
    try:
        while (kind := type(event := loader.get_event())) is not yaml.StreamEndEvent:
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
                keys.pop()
                continue
            if kind is yaml.DocumentStartEvent:
                documents += 1
            if kind not in _NODE_EVENTS:
                continue
            nodes += 1
            if kind is yaml.AliasEvent or event.anchor is not None or nodes > MAX_NODES:
                raise _Refused
            top = stack[-1] if stack else None
            if type(top) is dict and keys[-1] is _NO_KEY:
                if kind is not yaml.ScalarEvent or event.value in top:
                    raise _Refused
                keys[-1] = event.value
                continue
            if kind is yaml.ScalarEvent:
                value = _scalar(event, "", ())
            elif (event.tag not in (None, "!") and event.tag not in _COLLECTION_TAGS) or len(stack) >= MAX_DEPTH:
                raise _Refused
            else:
                value = {} if kind is yaml.MappingStartEvent else []
            if top is None:
                root = value
            elif type(top) is dict:
                top[keys[-1]] = value
                keys[-1] = _NO_KEY
            else:
                top.append(value)
            if kind is not yaml.ScalarEvent:
                stack.append(value)
                keys.append(_NO_KEY)
    finally:
        loader.dispose()
    if documents != 1 or root is _NO_KEY:
        raise _Refused
    return root


def read_yaml(data: bytes, file: str) -> YamlDoc:
    """`parse_yaml`, with the marks parsed only when a position is first asked for (a
    `YamlDoc.deferred`): the same data, the same FindingError for a file it refuses."""
    try:
        value = _data_only(_decode(data, file))
    except (_Refused, FindingError, yaml.YAMLError):
        return parse_yaml(data, file)  # raises the finding, at its position
    return YamlDoc.deferred(value, file, data)
