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


DIRS = ("", "x/", "x/y/", "z/")  # tasks/ has subdirectories; one name may be in two of them
EDIT = st.tuples(
    st.sampled_from(["write", "remove", "broken", "misnamed", "agent", "mission"]),
    st.sampled_from(NAMES),
    st.sets(st.sampled_from(NAMES), max_size=2),
    st.sampled_from(DIRS),
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


@settings(max_examples=80, deadline=None)
@given(st.lists(EDIT, min_size=1, max_size=10))
def test_reading_what_changed_gives_what_a_fresh_read_gives(edits: list[tuple[str, str, set[str], str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = pygit2.init_repository(tmp, bare=True, initial_head="main")
        commit(repo, {**BASE, "missions/m/tasks/a.yaml": task_yaml("a", "A")}, 0)
        rec = Reconciler(Store(pygit2.Repository(tmp)))
        rec.read_desired()
        for n, (kind, name, needs, directory) in enumerate(edits, 1):
            path = f"missions/m/tasks/{directory}{name}.yaml"
            changes: dict[str, dict[str, str | None]] = {
                "write": {path: task_yaml(name, f"T{n}", needs=tuple(sorted(needs)))},
                "remove": {path: None},
                "broken": {path: "kind: Task\nmetadata: [\n"},
                "misnamed": {path: task_yaml(name, f"T{n}", declared=sorted(needs)[0] if needs else "zz")},
                "agent": {"missions/m/agents/w.yaml": BASE["missions/m/agents/w.yaml"].replace("Works", f"W{n}")},
                # a change load_changed leaves to a full walk, with a task file beside it
                "mission": {
                    "missions/m/mission.yaml": BASE["missions/m/mission.yaml"].replace("A mission", f"M{n}"),
                    path: task_yaml(name, f"T{n}"),
                },
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


def test_tasks_in_subdirectories_are_read_and_reread_alone(tmp_path: Path) -> None:
    """A mission may spread its tasks over subdirectories of tasks/; a commit to one of them
    reads that file alone, and a later walk reuses only what did not change (a subdirectory
    reverted to an old tree is not mistaken for the one read before it changed)."""
    repo = pygit2.init_repository(str(tmp_path), bare=True, initial_head="main")
    tasks = {f"missions/m/tasks/{i % 3}/t{i}.yaml": task_yaml(f"t{i}", f"T{i}") for i in range(12)}
    commit(repo, {**BASE, **tasks}, 0)
    rec = Reconciler(Store(pygit2.Repository(str(tmp_path))))
    assert len(rec.read_desired().state.missions["m"].tasks) == 12
    commit(repo, {"missions/m/tasks/1/t4.yaml": task_yaml("t4", "Retitled")}, 1)
    d = rec.read_desired()
    assert rec.snapshot is not None
    assert rec.snapshot.parsed == 1
    assert d.state.missions["m"].tasks["t4"].title == "Retitled"
    mission = BASE["missions/m/mission.yaml"].replace("A mission", "The mission")
    # tasks/ back to its first tree, with a mission change: a full walk over the snapshot kept in place
    commit(repo, {"missions/m/mission.yaml": mission, "missions/m/tasks/1/t4.yaml": task_yaml("t4", "T4")}, 2)
    seen = rec.read_desired()
    fresh = Reconciler(Store(pygit2.Repository(str(tmp_path)))).read_desired()
    assert summary(seen) == summary(fresh)
