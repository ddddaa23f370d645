"""The status chain `refs/mc/status`: every task's observed status, one commit per change.

The chain's tree mirrors the tasks, `<mission>/<task>.json` (a `vocabulary.status.TaskStatus`),
plus `queue.json` (`gitstate.queue`). Only the elected reconciler writes it, one commit per pass
that changed something, each message listing the transitions. It is JSON rather than YAML
because a pass rereads it: JSON parses an order of magnitude faster, and `git show` still
reads it as easily.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pygit2

from reconciler.gitstate.commits import write_commit
from reconciler.gitstate.queue import QUEUE_FILE
from reconciler.gitstate.refs import STATUS_REF, ZERO, Update, tree_file
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.status import TaskStatus
from reconciler.vocabulary.trailers import RECONCILER


@dataclass(slots=True)
class StatusView:
    """The status chain at one tip: every task's status, and the blob each came from.

    `corrupt` names the task blobs that cannot be read (hand-edited, damaged): those tasks are
    held where they are and reported, and every other task is served as usual. `queue_ok` says
    whether `queue.json` is present and readable (the next pass rewrites it otherwise)."""

    tip: str | None = None
    tasks: dict[str, TaskStatus] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)
    trees: dict[str, str] = field(default_factory=dict)
    corrupt: dict[str, str] = field(default_factory=dict)
    queue_ok: bool = True


def read_status(store: Store, previous: StatusView | None = None) -> StatusView:
    """Read `refs/mc/status`, reparsing only blobs that changed since `previous`.

    CorruptState if the ref is not at a commit: then nothing can be decided safely."""
    tip = store.read(STATUS_REF)
    if previous is not None and previous.tip == tip:
        return previous
    view = StatusView(tip)
    if tip is None:
        return view
    repo = store.repo
    obj = repo.get(tip)
    if not isinstance(obj, pygit2.Commit):
        what = obj.type_str if obj is not None else "missing object"
        raise CorruptState(
            f"{STATUS_REF} points at a {what} ({tip[:12]}), not a status commit: nothing is decided until it is "
            f"repaired (point it back at its last good commit: git update-ref {STATUS_REF} <commit>)",
            ref=STATUS_REF,
        )
    root = obj.tree
    view.queue_ok = _queue_ok(root)
    for mission_tree in root:
        if not isinstance(mission_tree, pygit2.Tree):
            continue
        mission = mission_tree.name or ""
        view.trees[mission] = str(mission_tree.id)
        same_tree = previous is not None and previous.trees.get(mission) == str(mission_tree.id)
        for entry in mission_tree:
            key = TaskKey.of(mission, (entry.name or "").removesuffix(".json"))
            blob = str(entry.id)
            view.blobs[key] = blob
            if previous is not None and (same_tree or previous.blobs.get(key) == blob):
                if key in previous.tasks:
                    view.tasks[key] = previous.tasks[key]
                    continue
                if key in previous.corrupt:
                    view.corrupt[key] = previous.corrupt[key]
                    continue
            st, why = _task_status(entry, key)
            if st is not None:
                view.tasks[key] = st
            else:
                view.corrupt[key] = f"status {key}.json in {tip[:12]} cannot be read: {why}"
    return view


def _task_status(entry: pygit2.Object, key: str) -> tuple[TaskStatus | None, str]:
    if not isinstance(entry, pygit2.Blob):
        return None, f"a {entry.type_str}, not a file"
    try:
        st = TaskStatus.from_dict(json.loads(entry.data))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return None, str(exc) or type(exc).__name__
    if st.key != key:
        return None, f"it names task {st.key}"
    return st, ""


def _queue_ok(root: pygit2.Tree) -> bool:
    try:
        json.loads(tree_file(root, QUEUE_FILE))
    except (KeyError, ValueError):
        return False
    return True


def _mission_tree(
    repo: pygit2.Repository, base: pygit2.Tree | None, mission: str, blobs: dict[str, pygit2.Oid]
) -> pygit2.Oid:
    existing = base[mission] if base is not None and mission in base else None
    if existing is not None and not isinstance(existing, pygit2.Tree):
        existing = None
    builder = repo.TreeBuilder(existing) if existing is not None else repo.TreeBuilder()
    for name, oid in blobs.items():
        builder.insert(name, oid, pygit2.enums.FileMode.BLOB)
    return builder.write()


def status_commit(
    store: Store, view: StatusView, changed: dict[str, TaskStatus], message: str, files: dict[str, bytes]
) -> StatusView:
    """Create the next status commit holding `changed` and root `files` (objects only; no ref moves).

    Returns the view at that commit, so that the writer need not read back what it wrote.
    """
    repo = store.repo
    base = repo[view.tip].peel(pygit2.Commit).tree if view.tip else None
    # What this commit did not rewrite stays as it was read, unreadable blobs included (held).
    corrupt = {k: why for k, why in view.corrupt.items() if k not in changed}
    after = StatusView(None, {**view.tasks, **changed}, dict(view.blobs), dict(view.trees), corrupt)
    by_mission: dict[str, dict[str, pygit2.Oid]] = {}
    for key, st in changed.items():
        mission, task = TaskKey(key).mission, TaskKey(key).name
        blob = repo.create_blob(st.to_json())
        by_mission.setdefault(mission, {})[f"{task}.json"] = blob
        after.blobs[key] = str(blob)
    root = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    for mission, blobs in by_mission.items():
        tree = _mission_tree(repo, base, mission, blobs)
        root.insert(mission, tree, pygit2.enums.FileMode.TREE)
        after.trees[mission] = str(tree)
    for name, data in files.items():
        root.insert(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    after.tip = write_commit(repo, RECONCILER, message, root.write(), [view.tip] if view.tip else [])
    return after


def status_update(view: StatusView, new_tip: str) -> Update:
    return Update(STATUS_REF, new_tip, view.tip or ZERO)
