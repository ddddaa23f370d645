"""Property tests: no input makes `mc validate` raise; globs agree with a reference matcher."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.gitstate.bootstrap import init_repository
from reconciler.manifests.checks import all_findings
from reconciler.manifests.globs import GlobError, check_glob, glob_matches
from reconciler.manifests.layout import Location
from reconciler.manifests.loader import DirSource, load
from reconciler.manifests.manifest_file import read_manifest
from reconciler.vocabulary.kinds import Kind
from tests.conftest import mc

KINDS = ["Mission", "Kluster", "Agent", "Policy", "Principals", "Task"]
names = st.sampled_from(["a", "b", "hello", "worker", "main", "m", "Bad", "", "x" * 70])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), names)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """Manifests that are mostly well-formed, with random holes, so that later checks are reached."""
    kind = draw(st.sampled_from(KINDS))
    spec: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "title": st.text(max_size=10),
                "kluster": names,
                "needs": st.lists(names, max_size=3),
                "agent": st.one_of(
                    st.fixed_dictionaries({"name": names}),
                    st.fixed_dictionaries(
                        {"selector": st.fixed_dictionaries({"matchLabels": st.dictionaries(names, names, max_size=2)})}
                    ),
                    json_like,
                ),
                "paths": st.lists(st.text(alphabet="ab/*?[]!.\\", max_size=8), max_size=3),
                "owners": st.lists(names, max_size=2),
                "outcome": st.text(max_size=5),
                "runtime": st.fixed_dictionaries({"command": st.lists(st.text(min_size=1, max_size=5), max_size=2)}),
                "version": st.integers(-1, 3),
                "state": st.sampled_from(["active", "draft", "x"]),
                "rules": st.lists(json_like, max_size=2),
                "principals": st.lists(st.fixed_dictionaries({"name": names}), max_size=2),
                "outputs": st.fixed_dictionaries({"schema": json_like}),
                "extra": json_like,
            },
        )
    )
    doc = {
        "apiVersion": draw(st.sampled_from(["missioncontrol.dev/v1", "v2"])),
        "kind": kind,
        "metadata": {"name": draw(names)},
        "spec": spec,
    }
    return draw(st.one_of(st.just(doc), json_like.map(lambda x: {"kind": kind, "spec": x})))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    mf = read_manifest("missions/m/tasks/t.yaml", "0" * 40, data, Location(Kind.TASK, "m"))
    assert mf.obj is not None or mf.findings


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n\t ,?%@`0.")), max_size=80))
def test_yaml_like_text_never_raises(text: str) -> None:
    mf = read_manifest("missions/m/tasks/t.yaml", "0" * 40, text.encode(), Location(Kind.TASK, "m"))
    assert mf.obj is not None or mf.findings


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(docs=st.lists(manifests(), min_size=1, max_size=5), as_json=st.booleans())
def test_generated_repositories_never_raise(tmp_path_factory: Any, docs: list[dict[str, Any]], as_json: bool) -> None:
    root: Path = tmp_path_factory.mktemp("r")
    init_repository(root, mission="m", owner="alice")
    dirs = {
        "Mission": "missions/m",
        "Principals": ".",
        "Kluster": "missions/m/klusters",
        "Agent": "missions/m/agents",
        "Policy": "missions/m/policies",
        "Task": "missions/m/tasks",
    }
    for i, doc in enumerate(docs):
        target = (
            root
            / dirs[str(doc.get("kind", "Task"))]
            / (
                f"gen{i}.yaml"
                if doc.get("kind") not in ("Mission", "Principals")
                else ("mission.yaml" if doc["kind"] == "Mission" else "principals.yaml")
            )
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc) if as_json else yaml.safe_dump(doc))
    for finding in all_findings(load(DirSource(root))):
        assert finding.message
        assert finding.line >= 0
    for output in ("json", "text", "github"):  # and the command itself, as CI runs it
        result = mc("validate", str(root), "-o", output)
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def _reference_regex(pattern: str) -> re.Pattern[str]:
    """An independent reading of the glob rules, segment by segment."""
    segments: list[str | None] = []
    for seg in pattern.split("/"):
        if seg == "**":
            segments.append(None)
        else:
            segments.append(re.escape(seg).replace(r"\*", "[^/]*").replace(r"\?", "[^/]"))
    out = ""
    for i, part in enumerate(segments):
        last = i == len(segments) - 1
        out += (".*" if last else "(?:[^/]+/)*") if part is None else part + ("" if last else "/")
    return re.compile(out + r"\Z")


segment = st.text(alphabet="ab*?", min_size=1, max_size=3).filter(lambda s: "**" not in s)
glob_patterns = st.lists(st.one_of(segment, st.just("**")), min_size=1, max_size=4).map("/".join)
paths = st.lists(st.text(alphabet="ab", min_size=1, max_size=3), min_size=1, max_size=5).map("/".join)


@settings(max_examples=500, deadline=None)
@given(pattern=glob_patterns, path=paths)
def test_glob_matching_agrees_with_reference(pattern: str, path: str) -> None:
    assert glob_matches(pattern, path) == bool(_reference_regex(pattern).match(path))


@given(pattern=st.text(max_size=20))
def test_check_glob_only_raises_glob_error(pattern: str) -> None:
    try:
        check_glob(pattern)
    except GlobError:
        return
    glob_matches(pattern, "a/b")
