"""The status chain's layout: sharded, read incrementally exactly as a cold read, and a chain
written before sharding is read as it is and moved into shards by the next write."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pygit2
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.gitstate.refs import STATUS_REF
from reconciler.gitstate.status import StatusView, read_status, status_commit, status_update
from reconciler.gitstate.status_files import status_path
from reconciler.gitstate.store import Store
from reconciler.gitstate.trees import edit_tree
from reconciler.vocabulary.keys import TaskKey, shard
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.status import TaskStatus


def make_store(path: Path) -> Store:
    return Store(pygit2.init_repository(str(path), bare=True))


def status(key: str, message: str = "") -> TaskStatus:
    return TaskStatus(TaskKey(key), Phase.PENDING, 1.0, 1.0, "spec", message=message)


def write(store: Store, view: StatusView, changed: dict[str, TaskStatus]) -> StatusView:
    after = status_commit(store, view, changed, "test", {"_queue/meta.json": b"{}\n"})
    assert after.tip is not None
    store.transact([status_update(view, after.tip)])
    return after


def same(a: StatusView, b: StatusView) -> None:
    assert {k: v.to_dict() for k, v in a.tasks.items()} == {k: v.to_dict() for k, v in b.tasks.items()}
    assert a.blobs == b.blobs
    assert a.corrupt.keys() == b.corrupt.keys()


def test_statuses_live_in_shards_of_a_few_entries(tmp_path: Path) -> None:
    store = make_store(tmp_path / "r.git")
    keys = [f"m/task-{i:04d}" for i in range(600)]
    write(store, StatusView(), {k: status(k) for k in keys})
    root = store.repo.revparse_single(STATUS_REF).peel(pygit2.Commit).tree
    mission = root["m"]
    assert isinstance(mission, pygit2.Tree)
    assert {e.name for e in mission} == {shard(TaskKey(k).name) for k in keys}
    assert max(len(e) for e in mission if isinstance(e, pygit2.Tree)) < 20  # 600 tasks over 256 shards
    found = root[status_path("m/task-0007")]
    assert isinstance(found, pygit2.Blob)
    assert json.loads(found.data)["key"] == "m/task-0007"
    assert "_queue" in root  # beside the missions, under a name no mission can have
    assert set(read_status(store).tasks) == set(keys)


def test_a_chain_written_before_sharding_is_read_and_moved_into_shards(tmp_path: Path) -> None:
    store = make_store(tmp_path / "r.git")
    repo = store.repo
    old = {f"m/{n}.json": repo.create_blob(status(f"m/{n}").to_json()) for n in ("a", "b")}
    old["m/broken.json"] = repo.create_blob(b"{not json")
    old["queue.json"] = repo.create_blob(b"{}")
    sig = pygit2.Signature("t", "t@t")
    tip = repo.create_commit(STATUS_REF, sig, sig, "flat", edit_tree(repo, None, old), [])
    view = read_status(store)
    assert set(view.tasks) == {"m/a", "m/b"}
    assert set(view.corrupt) == {"m/broken"}

    after = write(store, view, {"m/a": status("m/a", "changed")})
    files = {e for e in _paths(repo, STATUS_REF) if e.startswith("m/")}
    assert files == {status_path(k) for k in ("m/a", "m/b", "m/broken")}  # nothing flat is left, nothing lost
    cold = read_status(store)
    same(cold, after)
    assert cold.tasks["m/a"].message == "changed"
    assert set(cold.corrupt) == {"m/broken"}
    assert str(tip) in {str(c.id) for c in repo.walk(cold.tip)}  # history kept: the move is one more commit


def _paths(repo: pygit2.Repository, ref: str) -> set[str]:
    out: set[str] = set()

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            if isinstance(entry, pygit2.Tree):
                walk(entry, f"{prefix}{entry.name}/")
            else:
                out.add(f"{prefix}{entry.name}")

    walk(repo.revparse_single(ref).peel(pygit2.Commit).tree, "")
    return out


KEYS = [f"{m}/t{i}" for m in ("a", "b") for i in range(12)]
STEP = st.tuples(
    st.sampled_from(["ours", "edit", "corrupt", "remove"]), st.lists(st.sampled_from(KEYS), min_size=1, max_size=4)
)


@settings(max_examples=30, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=8))
def test_an_incremental_read_equals_a_cold_read(steps: list[tuple[str, list[str]]]) -> None:
    """Whatever commits land (ours, or hand edits by others), reading after the last view gives
    what a cold read gives, and `changed` names every task that differs."""
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp))
        repo = store.repo
        view = write(store, StatusView(), {k: status(k) for k in KEYS[::2]})
        for n, (kind, keys) in enumerate(steps):
            if kind == "ours":
                view = write(store, view, {k: status(k, f"step {n}") for k in keys})
                continue
            tip = repo.revparse_single(STATUS_REF).peel(pygit2.Commit)
            data: dict[str, pygit2.Oid | None] = {}
            for k in keys:
                if kind == "edit":
                    data[status_path(k)] = repo.create_blob(status(k, f"edit {n}").to_json())
                elif kind == "corrupt":
                    data[status_path(k)] = repo.create_blob(b"[]")
                else:
                    data[status_path(k)] = None
            sig = pygit2.Signature("t", "t@t")
            new = repo.create_commit(None, sig, sig, kind, edit_tree(repo, tip.tree, data), [tip.id])
            store.transact([status_update(view, str(new))])
            before = view
            view = read_status(store, view)
            cold = read_status(store)
            same(view, cold)
            differ = {k for k in set(before.blobs) | set(cold.blobs) if before.blobs.get(k) != cold.blobs.get(k)}
            assert view.changed is not None
            assert differ <= view.changed
        same(view, read_status(store))
