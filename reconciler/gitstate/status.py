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
from reconciler.gitstate.refs import STATUS_REF, ZERO, Update
from reconciler.gitstate.store import Store
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.status import TaskStatus
from reconciler.vocabulary.trailers import RECONCILER


@dataclass(slots=True)
class StatusView:
    """The status chain at one tip: every task's status, and the blob each came from."""

    tip: str | None = None
    tasks: dict[str, TaskStatus] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)
    trees: dict[str, str] = field(default_factory=dict)


def read_status(store: Store, previous: StatusView | None = None) -> StatusView:
    """Read `refs/mc/status`, reparsing only blobs that changed since `previous`."""
    tip = store.read(STATUS_REF)
    if previous is not None and previous.tip == tip:
        return previous
    view = StatusView(tip)
    if tip is None:
        return view
    repo = store.repo
    root = repo[tip].peel(pygit2.Commit).tree
    for mission_tree in root:
        if mission_tree.type != pygit2.enums.ObjectType.TREE:
            continue
        mission = mission_tree.name or ""
        view.trees[mission] = str(mission_tree.id)
        same_tree = previous is not None and previous.trees.get(mission) == str(mission_tree.id)
        for entry in mission_tree:  # type: ignore[attr-defined]
            key = TaskKey.of(mission, (entry.name or "").removesuffix(".json"))
            blob = str(entry.id)
            if previous is not None and (same_tree or previous.blobs.get(key) == blob) and key in previous.tasks:
                view.tasks[key] = previous.tasks[key]
            else:
                view.tasks[key] = TaskStatus.from_dict(json.loads(repo[entry.id].data))  # type: ignore[attr-defined]
            view.blobs[key] = blob
    return view


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
    after = StatusView(None, {**view.tasks, **changed}, dict(view.blobs), dict(view.trees))
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
