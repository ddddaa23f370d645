"""A reconciler that reads only what each commit changed sees the desired state a fresh one sees."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pygit2
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.control.reconcile import Desired, Reconciler
from reconciler.gitstate.store import Store
from reconciler.gitstate.trees import edit_tree

MAIN = "refs/heads/main"
BASE = {
    "principals.yaml": "apiVersion: missioncontrol.dev/v1\nkind: Principals\nmetadata:\n  name: principals\n"
    "spec:\n  principals:\n    - name: alice\n      kind: human\n",
    "missions/m/mission.yaml": "apiVersion: missioncontrol.dev/v1\nkind: Mission\nmetadata:\n  name: m\n"
    "spec:\n  description: A mission.\n  owners: [alice]\n",
    "missions/m/klusters/k.yaml": "apiVersion: missioncontrol.dev/v1\nkind: Kluster\nmetadata:\n  name: k\n"
    "spec:\n  outcome: Done.\n",
    "missions/m/agents/w.yaml": "apiVersion: missioncontrol.dev/v1\nkind: Agent\nmetadata:\n  name: w\n"
    'spec:\n  description: Works.\n  runtime:\n    command: ["true"]\n',
}
NAMES = ("a", "b", "c", "d")


def task_yaml(name: str, title: str, declared: str | None = None, needs: tuple[str, ...] = ()) -> str:
    need = f"  needs: [{', '.join(needs)}]\n" if needs else ""
    return (
        f"apiVersion: missioncontrol.dev/v1\nkind: Task\nmetadata:\n  name: {declared or name}\n"
        f"spec:\n  title: {title}\n  kluster: k\n  agent:\n    name: w\n{need}"
    )


EDIT = st.tuples(
    st.sampled_from(["write", "remove", "broken", "misnamed", "agent"]),
    st.sampled_from(NAMES),
    st.sets(st.sampled_from(NAMES), max_size=2),
)


def commit(repo: pygit2.Repository, files: dict[str, str | None], n: int) -> None:
    parent = repo.references[MAIN].peel(pygit2.Commit) if MAIN in repo.references else None
    edits = {p: repo.create_blob(t.encode()) if t is not None else None for p, t in files.items()}
    tree = edit_tree(repo, parent.tree if parent else None, edits)
    sig = pygit2.Signature("t", "t@t", int(time.time()), 0)
    repo.create_commit(MAIN, sig, sig, f"edit {n}", tree, [parent.id] if parent else [])


def summary(d: Desired) -> tuple[object, ...]:
    tasks = {t.key: t for t in d.state.tasks()}
    return tasks, d.specs, d.invalid, {m: ms.mission for m, ms in d.state.missions.items()}


@settings(max_examples=40, deadline=None)
@given(st.lists(EDIT, min_size=1, max_size=8))
def test_reading_what_changed_gives_what_a_fresh_read_gives(edits: list[tuple[str, str, set[str]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = pygit2.init_repository(tmp, bare=True, initial_head="main")
        commit(repo, {**BASE, "missions/m/tasks/a.yaml": task_yaml("a", "A")}, 0)
        rec = Reconciler(Store(pygit2.Repository(tmp)))
        rec.read_desired()
        for n, (kind, name, needs) in enumerate(edits, 1):
            path = f"missions/m/tasks/{name}.yaml"
            changes: dict[str, dict[str, str | None]] = {
                "write": {path: task_yaml(name, f"T{n}", needs=tuple(sorted(needs)))},
                "remove": {path: None},
                "broken": {path: "kind: Task\nmetadata: [\n"},
                "misnamed": {path: task_yaml(name, f"T{n}", declared=sorted(needs)[0] if needs else "zz")},
                "agent": {"missions/m/agents/w.yaml": BASE["missions/m/agents/w.yaml"].replace("Works", f"W{n}")},
            }
            change = changes[kind]
            commit(repo, change, n)
            seen = rec.read_desired()
            fresh = Reconciler(Store(pygit2.Repository(tmp))).read_desired()
            assert summary(seen) == summary(fresh), (kind, name)


def test_a_one_task_commit_reads_one_file(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path), bare=True, initial_head="main")
    tasks = {f"missions/m/tasks/t{i}.yaml": task_yaml(f"t{i}", f"T{i}") for i in range(30)}
    commit(repo, {**BASE, **tasks}, 0)
    rec = Reconciler(Store(pygit2.Repository(str(tmp_path))))
    rec.read_desired()
    commit(repo, {"missions/m/tasks/t7.yaml": task_yaml("t7", "Retitled")}, 1)
    d = rec.read_desired()
    assert rec.snapshot is not None
    assert rec.snapshot.parsed == 1
    assert rec.snapshot.reused == len(rec.snapshot.files) - 1
    assert d.state.missions["m"].tasks["t7"].title == "Retitled"
