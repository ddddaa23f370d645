"""Observed task status, and its home: the commit chain `refs/mc/status`.

The chain's tree mirrors the tasks, `<mission>/<task>.json`: phase, attempts, generation,
conditions, last transition and history. Only the reconciler writes it, one commit per pass
that changed something, each message listing the transitions. It is JSON rather than YAML
because a pass rereads it: JSON parses an order of magnitude faster, and `git show` still
reads it as easily.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pygit2

from reconciler.clock import iso, parse_iso
from reconciler.phases import Phase
from reconciler.refs import STATUS_REF, ZERO, Update
from reconciler.store import Store

HISTORY_LIMIT = 50
_TIMES = ("created", "last_transition", "not_before")


@dataclass(slots=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str
    last_transition: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "last_transition": iso(self.last_transition)}


@dataclass(slots=True)
class Event:
    at: float
    source: str | None
    target: str
    reason: str
    generation: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": iso(self.at)}


@dataclass(slots=True)
class TaskStatus:
    key: str
    phase: Phase
    created: float
    last_transition: float
    spec: str  # blob id of the manifest this status acts on (the observed generation)
    generation: int = 0  # highest lease generation the reconciler has processed
    attempts: int = 0  # leases granted
    failures: int = 0  # attempts that failed or expired
    not_before: float | None = None
    holder: str | None = None
    node: str | None = None
    message: str = ""
    outputs: dict[str, Any] | None = None
    result_commit: str | None = None
    conditions: list[Condition] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)

    @property
    def mission(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def task(self) -> str:
        return self.key.split("/", 1)[1]

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def set_condition(self, type_: str, status: bool, reason: str, message: str, now: float) -> None:
        old = self.condition(type_)
        if old is not None and (old.status, old.reason, old.message) == (status, reason, message):
            return
        since = old.last_transition if old is not None and old.status == status else now
        self.conditions = [c for c in self.conditions if c.type != type_]
        self.conditions.append(Condition(type_, status, reason, message, since))
        self.conditions.sort(key=lambda c: c.type)

    def clear_condition(self, type_: str) -> None:
        self.conditions = [c for c in self.conditions if c.type != type_]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _TIMES:
            data[name] = iso(data[name])
        data["phase"] = str(self.phase)
        data["conditions"] = [c.to_dict() for c in self.conditions]
        data["history"] = [e.to_dict() for e in self.history]
        return data

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskStatus:
        data = dict(data)
        for name in _TIMES:
            data[name] = parse_iso(data[name])
        data["phase"] = Phase(data["phase"])
        data["conditions"] = [
            Condition(**{**c, "last_transition": parse_iso(c["last_transition"])}) for c in data["conditions"]
        ]
        data["history"] = [Event(**{**e, "at": parse_iso(e["at"])}) for e in data["history"]]
        return cls(**data)


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
            key = f"{mission}/{(entry.name or '').removesuffix('.json')}"
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
        mission, task = key.split("/", 1)
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
    sig = pygit2.Signature("mc-reconciler", "mc-reconciler@missioncontrol.invalid")
    parents = [pygit2.Oid(hex=view.tip)] if view.tip else []
    after.tip = str(repo.create_commit(None, sig, sig, message, root.write(), parents))
    return after


def status_update(view: StatusView, new_tip: str) -> Update:
    return Update(STATUS_REF, new_tip, view.tip or ZERO)
