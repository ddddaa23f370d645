"""The status chain `refs/mc/status`: every task's observed status, one commit per change.

The chain's tree holds each task's status at `<mission>/<xx>/<task>.json` (a
`vocabulary.status.TaskStatus`), where `xx` is the task name's shard (`shard`): two hex digits
of its SHA-1, so that no directory holds more than a few hundred entries even at 100,000 tasks
and a commit that changes one task rewrites two small trees and the root, never a tree with an
entry per task. The claim queue lives under `_queue/` (`gitstate.queue`): no mission can have
that name. Only the elected reconciler writes the chain, one commit per pass that changed
something, each message listing the transitions, so `git log refs/mc/status` reads as the
system's history. It is JSON rather than YAML because a pass rereads it: JSON parses an order
of magnitude faster, and `git show` still reads it as easily.

A chain written before sharding (`<mission>/<task>.json`) is read as it is, and the first pass
that writes a mission moves all of that mission's files into their shards.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import pygit2

from reconciler.gitstate.commits import write_commit
from reconciler.gitstate.queue import queue_ok
from reconciler.gitstate.refs import STATUS_REF, ZERO, Update
from reconciler.gitstate.status_files import status_path
from reconciler.gitstate.store import Store
from reconciler.gitstate.trees import edit_tree, subtree_ids
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.keys import TaskKey, shard
from reconciler.vocabulary.status import TaskStatus
from reconciler.vocabulary.trailers import RECONCILER

_SERIALS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Directory:
    """One directory of a mission's statuses as read: its tree (None for the files a chain
    written before sharding keeps in the mission's own directory) and the tasks it holds."""

    tree: str | None
    keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class MissionDir:
    tree: str
    dirs: dict[str, Directory]  # shard ("xx") -> directory; "" -> files not in a shard


@dataclass(slots=True)
class StatusView:
    """The status chain at one tip: every task's status, and the blob each came from.

    `corrupt` names the task blobs that cannot be read (hand-edited, damaged): those tasks are
    held where they are and reported, and every other task is served as usual. `queue_ok` says
    whether the queue is present and readable (the next pass rewrites it otherwise).

    `missions` records the tree of each directory read, so that the next read skips every
    directory whose tree did not change. `changed` names the tasks whose blob differs from the
    view this one was read or written after (None: everything was read)."""

    tip: str | None = None
    tasks: dict[str, TaskStatus] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)
    missions: dict[str, MissionDir] = field(default_factory=dict)
    corrupt: dict[str, str] = field(default_factory=dict)
    queue_ok: bool = True
    changed: frozenset[str] | None = None
    serial: int = field(default_factory=lambda: next(_SERIALS))  # which view this is, in this process
    base: int | None = None  # the serial of the view `changed` is relative to


def read_status(store: Store, previous: StatusView | None = None) -> StatusView:
    """Read `refs/mc/status`, reading only the directories that changed since `previous`.

    CorruptState if the ref is not at a commit: then nothing can be decided safely."""
    tip = store.read(STATUS_REF)
    if previous is not None and previous.tip == tip:
        return previous
    if tip is None:
        return StatusView(None, changed=frozenset(previous.tasks) if previous else None)
    obj = store.repo.get(tip)
    if not isinstance(obj, pygit2.Commit):
        what = obj.type_str if obj is not None else "missing object"
        raise CorruptState(
            f"{STATUS_REF} points at a {what} ({tip[:12]}), not a status commit: nothing is decided until it is "
            f"repaired (point it back at its last good commit: git update-ref {STATUS_REF} <commit>)",
            ref=STATUS_REF,
        )
    return _Reader(tip, previous).read(obj.tree)


class _Reader:
    """One read of the chain after `previous`: directories whose tree is unchanged are kept as
    they were (the dictionaries are copied whole, in C), the others read entry by entry."""

    def __init__(self, tip: str, previous: StatusView | None) -> None:
        self.previous = previous or StatusView()
        old = self.previous
        self.view = StatusView(tip, dict(old.tasks), dict(old.blobs), {}, dict(old.corrupt))
        self.changed: set[str] | None = set() if previous is not None else None

    def read(self, root: pygit2.Tree) -> StatusView:
        view = self.view
        view.queue_ok = queue_ok(root)
        for mission_tree in root:
            name = mission_tree.name or ""
            if isinstance(mission_tree, pygit2.Tree) and not name.startswith("_"):
                self.mission(name, mission_tree)
        for mission, gone in self.previous.missions.items():
            if mission not in view.missions:
                for directory in gone.dirs.values():
                    self.forget(directory.keys)
        view.changed = frozenset(self.changed) if self.changed is not None else None
        view.base = self.previous.serial if self.changed is not None else None
        return view

    def mission(self, mission: str, tree: pygit2.Tree) -> None:
        before = self.previous.missions.get(mission)
        if before is not None and before.tree == str(tree.id):
            self.view.missions[mission] = before
            return
        old_dirs = before.dirs if before is not None else {}
        dirs: dict[str, Directory] = {}
        flat: list[pygit2.Object] = []
        for entry in tree:
            name = entry.name or ""
            if not isinstance(entry, pygit2.Tree) or name.endswith(".json"):
                flat.append(entry)  # written before sharding, or a stray entry: read where it is
                continue
            kept = old_dirs.get(name)
            if kept is not None and kept.tree == str(entry.id):
                dirs[name] = kept
            else:
                dirs[name] = Directory(str(entry.id), self.entries(mission, list(entry)))
        if flat:
            dirs[""] = Directory(None, self.entries(mission, flat))
        self.view.missions[mission] = MissionDir(str(tree.id), dirs)
        held = frozenset().union(*(d.keys for d in dirs.values()))
        for name, old in old_dirs.items():
            if dirs.get(name) is not old:
                self.forget(old.keys - held)

    def entries(self, mission: str, entries: list[pygit2.Object]) -> frozenset[str]:
        view, previous = self.view, self.previous
        keys: set[str] = set()
        for entry in entries:
            key = TaskKey.of(mission, (entry.name or "").removesuffix(".json"))
            keys.add(key)
            blob = str(entry.id)
            if previous.blobs.get(key) == blob and (key in previous.tasks or key in previous.corrupt):
                continue  # as it was: copied
            view.blobs[key] = blob
            view.tasks.pop(key, None)
            view.corrupt.pop(key, None)
            st, why = _task_status(entry, key)
            if st is not None:
                view.tasks[key] = st
            else:
                view.corrupt[key] = f"status {key}.json in {str(view.tip)[:12]} cannot be read: {why}"
            if self.changed is not None:
                self.changed.add(key)
        return frozenset(keys)

    def forget(self, keys: frozenset[str]) -> None:
        for key in keys:
            self.view.tasks.pop(key, None)
            self.view.blobs.pop(key, None)
            self.view.corrupt.pop(key, None)
            if self.changed is not None:
                self.changed.add(key)


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


def status_commit(
    store: Store, view: StatusView, changed: dict[str, TaskStatus], message: str, files: dict[str, bytes | None]
) -> StatusView:
    """Create the next status commit holding `changed` and `files` (paths from the tree's root;
    None removes one). Objects only; no ref moves.

    Returns the view at that commit, so that the writer need not read back what it wrote.
    """
    repo = store.repo
    base = repo[view.tip].peel(pygit2.Commit).tree if view.tip else None
    # What this commit did not rewrite stays as it was read, unreadable blobs included (held).
    corrupt = {k: why for k, why in view.corrupt.items() if k not in changed}
    after = StatusView(None, {**view.tasks, **changed}, dict(view.blobs), dict(view.missions), corrupt)
    edits: dict[str, pygit2.Oid | None] = {}
    into: dict[str, dict[str, set[str]]] = {}  # mission -> shard -> tasks written into it
    stay: dict[str, frozenset[str]] = {}  # mission -> entries that cannot move (not files)
    for mission in {TaskKey(k).mission for k in changed}:
        before = view.missions.get(mission)
        flat = before.dirs.get("") if before is not None else None
        # written before sharding: the mission's files move into their shards now, as they are
        for key in flat.keys if flat is not None else ():
            if key in changed:
                edits[f"{mission}/{TaskKey(key).name}.json"] = None
            elif isinstance(repo.get(view.blobs.get(key, ZERO)), pygit2.Blob):
                edits[f"{mission}/{TaskKey(key).name}.json"] = None
                edits[status_path(key)] = pygit2.Oid(hex=view.blobs[key])
                into.setdefault(mission, {}).setdefault(shard(TaskKey(key).name), set()).add(key)
            else:
                stay[mission] = stay.get(mission, frozenset()) | {key}
    for key, st in changed.items():
        blob = repo.create_blob(st.to_json())
        after.blobs[key] = str(blob)
        edits[status_path(key)] = blob
        into.setdefault(TaskKey(key).mission, {}).setdefault(shard(TaskKey(key).name), set()).add(key)
    for path, data in files.items():
        edits[path] = repo.create_blob(data) if data is not None else None
    root = edit_tree(repo, base, edits)
    ids = subtree_ids(repo, root, {*into, *(f"{m}/{s}" for m, shards in into.items() for s in shards)})
    for mission, shards in into.items():
        before = view.missions.get(mission)
        dirs = {name: d for name, d in (before.dirs if before else {}).items() if name != ""}
        if mission in stay:
            dirs[""] = Directory(None, stay[mission])
        for name, keys in shards.items():
            old = dirs.get(name, Directory(None, frozenset())).keys
            dirs[name] = Directory(ids.get(f"{mission}/{name}"), old | keys)
        after.missions[mission] = MissionDir(ids[mission], dirs)
    after.changed, after.base = frozenset(changed), view.serial
    after.queue_ok = True
    after.tip = write_commit(repo, RECONCILER, message, root, [view.tip] if view.tip else [])
    return after


def status_update(view: StatusView, new_tip: str) -> Update:
    return Update(STATUS_REF, new_tip, view.tip or ZERO)
