"""A result reads the task as the reconciler accepted it: the blob its status names, built as
the loader builds it, and refused if it does not build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygit2
import pytest

from reconciler.agentops import reports
from reconciler.gitstate.store import Store
from reconciler.manifests.layout import Location, task_file
from reconciler.manifests.manifest_file import read_manifest
from reconciler.vocabulary.errors import McError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import Kind
from tests.conftest import edit_task, reconcile, status

KEY = TaskKey("m/hello")


def test_the_task_is_built_from_the_blob_its_status_names_as_the_loader_builds_it(repo: Path) -> None:
    edit_task(repo, "  outputs:\n    schema:\n      type: object\n      required: [answer]\n")
    reconcile(repo)
    store = Store(pygit2.Repository(str(repo)))
    spec = str(status(repo)["spec"])
    data = store.repo[spec].peel(pygit2.Blob).data
    loaded = read_manifest(task_file("m", "hello"), spec, data, Location(Kind.TASK, "m"))
    assert loaded.findings == []
    assert reports.task_spec(store, KEY) == loaded.obj
    assert reports.task_spec(store, KEY).paths == ("notes/m/**",)


@pytest.mark.parametrize(
    "text",
    [
        "kind: Task\n",
        "- a list\n",
        "apiVersion: missioncontrol.dev/v1\nkind: Task\nmetadata: {name: hello}\nspec: {title: 3}\n",
        "{not: yaml: at all",
        "",
    ],
)
def test_a_blob_that_does_not_build_is_refused(repo: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    reconcile(repo)
    store = Store(pygit2.Repository(str(repo)))
    blob = str(store.repo.odb.write(pygit2.enums.ObjectType.BLOB, text.encode()))

    def status_naming_it(_store: Store, _key: TaskKey) -> dict[str, Any]:
        return {"spec": blob}

    monkeypatch.setattr(reports, "_status_blob", status_naming_it)
    with pytest.raises(McError, match="does not validate"):
        reports.task_spec(store, KEY)
