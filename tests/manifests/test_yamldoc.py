"""The YAML reader refuses hostile input with a located error and never crashes or hangs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifests import yamldoc
from reconciler.manifests.findings import FindingError
from reconciler.manifests.yamldoc import MAX_BYTES, MAX_DEPTH, YamlDoc, parse_yaml, read_yaml


def error(data: bytes) -> tuple[int, int, str]:
    with pytest.raises(FindingError) as info:
        parse_yaml(data, "f.yaml")
    f = info.value.finding
    return f.line, f.column, f.message


def test_plain_document_keeps_positions_and_json_types() -> None:
    doc = parse_yaml(b"a: 1\nb:\n  - x\n  - 2024-01-01\n  - yes\non: null\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", "2024-01-01", True], "on": None}
    assert doc.position(("b", 1)) == (4, 5)
    assert doc.position(("b",), key=True) == (2, 1)
    assert doc.position(("b", 7, "deeper")) == (3, 3)  # nearest ancestor that exists


def test_invalid_utf8_names_line_and_column() -> None:
    assert error(b"a: 1\nbb: \xff\n") == (2, 5, "not valid UTF-8 (byte 0xff)")


def test_tab_indentation_is_explained() -> None:
    line, _, message = error(b"a:\n\tb: 1\n")
    assert line == 2
    assert "tab" in message


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    assert error(b"a: 1\nb: 2\na: 3\n") == (3, 1, "duplicate key 'a' (first at line 1)")


def test_nested_duplicate_keys() -> None:
    _, _, message = error(b"spec:\n  x: 1\n  x: 2\n")
    assert "duplicate key 'x'" in message


@pytest.mark.parametrize(
    "data",
    [
        b"a: &x [1]\nb: *x\n",
        b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, *c]\n",  # billion laughs
        b"a: *undefined\n",
    ],
)
def test_anchors_and_aliases_are_refused(data: bytes) -> None:
    _, _, message = error(data)
    assert "not allowed" in message or "alias" in message


def test_billion_laughs_does_not_expand() -> None:
    lol = b"a: &a [" + b",".join([b"lol"] * 10) + b"]\n"
    for i in range(1, 10):
        lol += b"l%d: &l%d [" % (i, i) + b",".join([b"*a" if i == 1 else b"*l%d" % (i - 1)] * 10) + b"]\n"
    _, _, message = error(lol)
    assert "anchors are not allowed" in message


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    for depth in (MAX_DEPTH + 1, 100_000):
        _, _, message = error(b"a: " + b"[" * depth + b"]" * depth + b"\n")
        assert "levels deep" in message


def test_deep_mapping_nesting() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n"
    _, _, message = error(text.encode())
    assert "levels deep" in message


def test_file_of_many_megabytes_is_refused_before_parsing() -> None:
    _, _, message = error(b"a: '" + b"x" * (MAX_BYTES * 4) + b"'\n")
    assert "over the" in message


def test_many_nodes_are_refused() -> None:
    _, _, message = error(b"a: [" + b"1," * 200_000 + b"1]\n")
    assert "YAML nodes" in message


def test_multi_document_file_names_second_document() -> None:
    assert error(b"a: 1\n---\nb: 2\n")[:2] == (2, 1)


def test_empty_file() -> None:
    assert "empty" in error(b"")[2]
    assert "empty" in error(b"# only a comment\n")[2]


@pytest.mark.parametrize(
    "data", [b"a: !!python/object:os.system ls\n", b"a: !!binary aGk=\n", b"a: !custom x\n", b"!!set {a, b}\n"]
)
def test_unsafe_or_unknown_tags_are_refused(data: bytes) -> None:
    assert "tag" in error(data)[2]


def test_complex_keys_are_refused() -> None:
    assert "keys must be plain strings" in error(b"? [a, b]\n: 1\n")[2]


def test_syntax_error_is_located_where_the_unclosed_sequence_opened() -> None:
    line, column, message = error(b"a: [1, 2\nb: 3\n")
    assert (line, column) == (1, 4)
    assert message.startswith("YAML syntax error: a flow sequence opened here:")
    assert "at line 2" in message


def test_unclosed_quote_is_located_where_it_opened() -> None:
    line, column, message = error(b"kind: Task\ntitle: 'abc\nb: 2\n")
    assert (line, column) == (2, 8)
    assert "quoted scalar opened here" in message


def test_control_characters_are_an_error() -> None:
    assert "YAML" in error(b"a: \x00\x01\n")[2]


def test_keys_are_verbatim_strings() -> None:
    assert parse_yaml(b"on: 1\n1: x\nyes: y\n", "f.yaml").data == {"on": 1, "1": "x", "yes": "y"}


def test_bom_is_accepted() -> None:
    assert parse_yaml(b"\xef\xbb\xbfa: 1\n", "f.yaml").data == {"a": 1}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100, 1_000, 10_000])
def test_deep_nesting_gets_our_message_whichever_layer_detects_it(depth: int) -> None:
    """Our limit (64) or libyaml's own (PyYAML >= 6.0.4): the user reads the same finding."""
    for doc in (b"a: " + b"[" * depth + b"]" * depth, b"a: " + b"{b: " * depth + b"1" + b"}" * depth):
        line, _, message = error(doc)
        assert line == 1
        assert message == f"nested more than {MAX_DEPTH} levels deep"


# `read_yaml` reads the data alone and parses the positions only when one is asked for; for
# anything unusual it leaves the file to `parse_yaml`. Either way: the same data, the same
# positions, the same finding.

QUIRKS = [
    b"a: 1\nb: [x, 'y', \"z\"]\nc: {d: e}\n",
    b"---\na: 1\n...\n",
    b"\xef\xbb\xbfa: 1\n",
    b"a: |\n  block\n  text\nb: >\n  folded\n",
    b"a: 1\nb: 2\na: 3\n",  # duplicate key
    b"a: &x [1]\n",  # anchor
    b"a: *x\n",  # undefined alias
    b"a: &x [1]\nb: *x\n",
    b"a: !!str 5\nb: !!int '7'\nc: !!float 1\nd: !!bool yes\ne: !!null ''\n",
    b"a: ! 5\n",  # the non-specific tag: a string, not an int
    b"a: !!int x\n",
    b"a: !custom x\n",
    b"!!map {a: 1}\n",
    b"a: !!seq [1]\nb: !!map {c: 2}\nc: !!set {x}\n",
    b"a: 2024-01-01\nb: 2024-01-01T10:00:00Z\n",  # no timestamps: strings
    b"yes: 1\non: 2\n1: 3\nnull: 4\n~: 5\n'q': 6\n!!int 7: 8\n",  # keys are verbatim strings
    b"a: [yes, no, on, off, true, ~, null, '', 0o17, 017, 0x1f, 1_000, 1:30, .inf, -.inf, .nan, 1e3]\n",
    b"<<: {a: 1}\nb: 2\n",  # no merge: `<<` is a key like any other
    b"a: <<\n",
    b"a: =\n",
    b"? [a, b]\n: 1\n",  # complex key
    b"? a\n: 1\n",
    b"a: 1\n---\nb: 2\n",
    b"a: 1\n---\n",
    b"",
    b"# nothing\n",
    b"just a scalar\n",
    b"- a\n- b\n",
    b"a: [1, 2\nb: 3\n",
    b"a:\n\tb: 1\n",
    b"a: \x00\n",
    b"a: 1\nbb: \xff\n",
    b"a: " + b"[" * 64 + b"]" * 64 + b"\n",
    b"a: " + b"[" * 63 + b"]" * 63 + b"\n",
    b"a: [" + b"1," * 100_000 + b"1]\n",
]


def outcome(parse: Callable[[bytes, str], YamlDoc], data: bytes) -> object:
    try:
        doc = parse(data, "f.yaml")
    except FindingError as exc:
        return exc.finding
    return doc.data, dict(doc.marks), dict(doc.key_marks)


@pytest.mark.parametrize("data", QUIRKS, ids=lambda d: d[:30].decode(errors="replace"))
def test_read_yaml_is_parse_yaml(data: bytes) -> None:
    assert outcome(read_yaml, data) == outcome(parse_yaml, data)


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n\t ,?%@`0.<=~y")), max_size=80))
def test_read_yaml_is_parse_yaml_on_yaml_like_text(text: str) -> None:
    assert outcome(read_yaml, text.encode()) == outcome(parse_yaml, text.encode())


def test_a_deferred_document_reads_its_bytes_only_when_a_position_is_asked_for() -> None:
    reads = []

    def read() -> bytes:
        reads.append(1)
        return b"a: 1\nb:\n  - x\n"

    doc = YamlDoc.deferred({"a": 1, "b": ["x"]}, "f.yaml", read)
    assert reads == []
    assert doc.position(("b", 0)) == (3, 5)
    assert doc.position(("b",), key=True) == (2, 1)
    assert reads == [1]


def test_a_plain_file_is_read_without_positions_until_one_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    full = yamldoc.parse_yaml

    def counted(data: bytes, file: str) -> YamlDoc:
        calls.append(file)
        return full(data, file)

    monkeypatch.setattr(yamldoc, "parse_yaml", counted)
    doc = read_yaml(b"a: 1\nb:\n  - x\n", "f.yaml")
    assert (doc.data, calls) == ({"a": 1, "b": ["x"]}, [])
    assert doc.position(("b", 0)) == (3, 5)
    assert doc.position(("b",), key=True) == (2, 1)
    assert calls == ["f.yaml"]


def test_an_alias_is_named_in_plain_english() -> None:
    with pytest.raises(FindingError) as exc:
        parse_yaml(b"a: 1\nb: *a\n", "f.yaml")
    assert "YAML aliases are not allowed" in exc.value.finding.message
