"""The claim queue under `_queue/` in the status tree: the claimable tasks, in pages a claim reads
from the front, so neither a pass nor a claim handles the whole queue.

```
_queue/meta.json                             every mission; per agent: replicas, running, budget
_queue/<agent-id>/<dir>/<page>.json          that agent's Queued tasks, in claim order
```

`meta.json` is small (one line per agent). Each agent's eligible Queued tasks are sorted in
claim order (highest priority, then oldest, then key) and cut into pages, the pages grouped into
directories. The cuts are content-defined: a task whose key hashes to a multiple of
`PAGE_FANOUT` starts a page (64 tasks a page on average), one whose hash is a multiple of
`PAGE_FANOUT * DIR_FANOUT` also starts a directory (64 pages on average). A page or directory
is named after the task that starts it (`<priority>_<created>_<mission>.<task>`, so its place in
claim order can be read off the name), except the part before the first cut, named `head`. So:

- the layout is a function of the set of tasks alone: a reconciler that maintains it from pass
  to pass writes exactly the files one building it from scratch would (tested);
- a change to one task rewrites one page (about 64 entries), its directory and the agent's
  tree (about 64 entries each): never a file or tree that grows with the queue;
- a claim reads `meta.json`, lists two small trees and reads pages from the front only until it
  finds a task it can take.

An entry carries what a claim needs: priority, age, backoff (`not_before`), the processed lease
generation, the spec blob, the ids of every agent allowed to take it (it is listed under each),
its `timeoutSeconds` as a TTL hint and the result commits of the tasks it needs. A missing or
unreadable `meta.json` makes `queue_ok` false: the reconciler rewrites the queue at its next
pass, and claims wait until then (CorruptState).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pygit2

from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.spend import SpendLimit

QUEUE_DIR = "_queue"  # mission names are DNS labels: none starts with "_"
META_FILE = f"{QUEUE_DIR}/meta.json"
LEGACY_FILE = "queue.json"  # the single-blob queue of earlier versions: the first pass deletes it
QUEUE_FILE = META_FILE  # the file whose presence says a status tree has a queue (`queue_ok` reads it)
HEAD = "head"  # the page (and directory) before the first cut
PAGE_FANOUT = 64  # a page starts at one task in 64 on average
DIR_FANOUT = 64  # a directory starts at one page in 64 on average
_SUFFIX = ".json"

SortKey = tuple[int, float, str]  # claim order: (-priority, created, key)
T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class QueueEntry:
    key: TaskKey
    priority: int
    created: float
    not_before: float | None
    generation: int
    spec: str
    agents: tuple[str, ...]
    ttl_hint: int  # the task's timeout, so a claimer can pick a sensible lease length
    results: tuple[str, ...] = ()  # the result commits of the tasks it needs: where its work starts

    @property
    def order(self) -> SortKey:
        return (-self.priority, self.created, self.key)

    def line(self) -> bytes:
        """The entry as one line of compact JSON, as pages hold it."""
        data: dict[str, Any] = {
            "key": self.key,
            "priority": self.priority,
            "created": self.created,
            "not_before": self.not_before,
            "generation": self.generation,
            "spec": self.spec,
            "agents": self.agents,
            "ttl_hint": self.ttl_hint,
        }
        if self.results:
            data["results"] = self.results
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, e: dict[str, Any]) -> QueueEntry:
        return cls(
            TaskKey(e["key"]),
            int(e["priority"]),
            float(e["created"]),
            None if e["not_before"] is None else float(e["not_before"]),
            int(e["generation"]),
            str(e["spec"]),
            tuple(str(a) for a in e["agents"]),
            int(e["ttl_hint"]),
            tuple(str(r) for r in e.get("results", ())),
        )


@dataclass(slots=True)
class QueueMeta:
    """Every mission declared (to tell a typo from an idle mission), and per agent: how many tasks
    it holds, how many it may hold (the keys of `replicas` are every agent declared) and its
    per-run budget, which a grant copies into the lease."""

    running: dict[str, int] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    missions: list[str] = field(default_factory=list)
    budgets: dict[str, SpendLimit] = field(default_factory=dict)  # agent id -> per-run budget (when it has one)

    def encode(self) -> bytes:
        data = {
            "missions": sorted(self.missions),
            "replicas": dict(sorted(self.replicas.items())),
            "running": dict(sorted((a, n) for a, n in self.running.items() if n)),
            "budgets": {agent: limit.to_dict() for agent, limit in sorted(self.budgets.items())},
        }
        return (json.dumps(data, separators=(",", ":")) + "\n").encode()

    @classmethod
    def decode(cls, data: bytes) -> QueueMeta:
        raw = json.loads(data)
        return cls(
            {str(a): int(n) for a, n in raw["running"].items()},
            {str(a): int(n) for a, n in raw["replicas"].items()},
            [str(m) for m in raw["missions"]],
            {str(a): SpendLimit.from_dict(limit) for a, limit in raw["budgets"].items()},
        )


@dataclass(slots=True)
class QueueIndex:
    """The whole queue as one value: every Queued task (each once, in claim order) and the meta."""

    tasks: list[QueueEntry] = field(default_factory=list)
    meta: QueueMeta = field(default_factory=QueueMeta)


# --------------------------------------------------------------------------------------------
# The layout: where each entry goes
# --------------------------------------------------------------------------------------------


def cut_level(key: str) -> int:
    """2 if the task starts a directory (and a page), 1 if it starts a page, else 0."""
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    if h % (PAGE_FANOUT * DIR_FANOUT) == 0:
        return 2
    return 1 if h % PAGE_FANOUT == 0 else 0


def cut_name(order: SortKey) -> str:
    """The name of the page or directory that the task at `order` starts."""
    priority, created, key = order
    return f"{-priority}_{created!r}_{key.replace('/', '.')}"


def name_order(name: str) -> SortKey:
    """The claim-order place of a page or directory named `name` (ValueError if it is not one)."""
    priority, created, key = name.split("_", 2)
    mission, sep, task = key.partition(".")
    if not sep:
        raise ValueError(f"{name!r} names no task")
    return (-int(priority), float(created), f"{mission}/{task}")


def page_path(agent: str, directory: str, page: str) -> str:
    return f"{QUEUE_DIR}/{agent}/{directory}/{page}{_SUFFIX}"


def encode_page(lines: Iterable[bytes]) -> bytes:
    """A page: a JSON array of entries in claim order, one per line."""
    return b"[\n" + b",\n".join(lines) + b"\n]\n"


def blob_id(data: bytes) -> str:
    """The id Git gives a blob holding `data`."""
    return str(pygit2.hash(data))


def encode_queue(index: QueueIndex) -> dict[str, bytes]:
    """Every file of the queue, by path under the status tree's root (built from scratch)."""
    files = {META_FILE: index.meta.encode()}
    by_agent: dict[str, list[QueueEntry]] = {}
    for entry in index.tasks:
        for agent in entry.agents:
            by_agent.setdefault(agent, []).append(entry)
    for agent, entries in by_agent.items():
        entries.sort(key=lambda e: e.order)
        directory, page, lines = HEAD, HEAD, list[bytes]()
        for entry in entries:
            level = cut_level(entry.key)
            if level and lines:
                files[page_path(agent, directory, page)] = encode_page(lines)
                lines = []
            if level == 2:
                directory = cut_name(entry.order)
            if level:
                page = cut_name(entry.order)
            lines.append(entry.line())
        files[page_path(agent, directory, page)] = encode_page(lines)
    return files


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def queue_ok(root: pygit2.Tree) -> bool:
    """Whether the status tree `root` holds a readable queue (its meta; pages are read lazily)."""
    try:
        QueueMeta.decode(_file(root, META_FILE))
    except (KeyError, ValueError, TypeError, AttributeError):
        return False
    return True


class QueueView:
    """The queue of one status commit, read lazily: the meta at once, an agent's pages as its
    entries are asked for. Every reading error is CorruptState."""

    def __init__(self, repo: pygit2.Repository, status_tip: str) -> None:
        self.repo, self.tip = repo, status_tip
        try:
            self.root = self._root(status_tip)
            self.meta = QueueMeta.decode(_file(self.root, META_FILE))
        except (KeyError, ValueError, TypeError, AttributeError, pygit2.GitError) as exc:
            raise self._corrupt(META_FILE, exc) from None

    def _root(self, tip: str) -> pygit2.Tree:
        """The commit's tree. A status commit's message lists its pass's transitions (megabytes
        for a pass that queued 100,000 tasks): its tree id is kept, so it is inflated once."""
        tree = _TREES.get(tip)
        if tree is None:
            tree = _remember(_TREES, tip, self.repo[tip].peel(pygit2.Commit).tree_id)
        root = self.repo[tree]
        if not isinstance(root, pygit2.Tree):
            raise TypeError(f"{tree} is not a tree")
        return root

    def agents(self) -> list[str]:
        """The agents that have a queue in this commit."""
        queue = self._tree(self.root, QUEUE_DIR)
        return [] if queue is None else sorted(e.name or "" for e in queue if isinstance(e, pygit2.Tree))

    def entries(self, agent: str) -> Iterator[QueueEntry]:
        """`agent`'s Queued tasks in claim order, reading one page at a time."""
        queue = self._tree(self.root, QUEUE_DIR)
        mine = self._tree(queue, agent) if queue is not None else None
        if mine is None:
            return
        for dir_name, dir_id in self._ordered(mine, f"{QUEUE_DIR}/{agent}", dirs=True):
            where = f"{QUEUE_DIR}/{agent}/{dir_name}"
            for page_name, page_id in self._ordered(self.repo[dir_id], where, dirs=False):
                yield from self._page(page_id, f"{where}/{page_name}")

    def _tree(self, tree: pygit2.Tree, name: str) -> pygit2.Tree | None:
        if name not in tree:
            return None
        obj = tree[name]
        if not isinstance(obj, pygit2.Tree):
            raise self._corrupt(name, TypeError(f"a {obj.type_str}, not a directory"))
        return obj

    def _ordered(self, parent: pygit2.Object, where: str, *, dirs: bool) -> list[tuple[str, pygit2.Oid]]:
        """The entries of `parent` (directories or pages) in claim order, `head` first: (name, id)."""
        cached = _ORDERED.get(parent.id)
        if cached is not None:
            return cached
        if not isinstance(parent, pygit2.Tree):
            raise self._corrupt(where, TypeError(f"a {parent.type_str}, not a directory"))
        keyed: list[tuple[tuple[int, SortKey], str, pygit2.Oid]] = []
        for obj in parent:
            name = obj.name or ""
            if dirs != isinstance(obj, pygit2.Tree) or not (dirs or name.endswith(_SUFFIX)):
                what = "directory" if dirs else "page"
                raise self._corrupt(f"{where}/{name}", TypeError(f"a {obj.type_str} where a {what} belongs"))
            stem = name if dirs else name.removesuffix(_SUFFIX)
            try:
                keyed.append(((0, (0, 0.0, "")) if stem == HEAD else (1, name_order(stem)), name, obj.id))
            except ValueError as exc:
                raise self._corrupt(f"{where}/{name}", exc) from None
        keyed.sort(key=lambda item: item[0])
        return _remember(_ORDERED, parent.id, [(name, oid) for _, name, oid in keyed])

    def _page(self, page: pygit2.Oid, where: str) -> tuple[QueueEntry, ...]:
        cached = _PAGES.get(page)
        if cached is not None:
            return cached
        try:
            entries = tuple(QueueEntry.from_dict(e) for e in json.loads(self.repo[page].peel(pygit2.Blob).data))
        except (KeyError, ValueError, TypeError, AttributeError, pygit2.GitError) as exc:
            raise self._corrupt(where, exc) from None
        return _remember(_PAGES, page, entries)

    def _corrupt(self, what: str, exc: Exception) -> CorruptState:
        return CorruptState(
            f"the claim queue ({what}) of status commit {self.tip[:12]} cannot be read "
            f"({str(exc) or type(exc).__name__}); the reconciler rewrites it at its next pass"
        )


# A process that claims again and again (a mesh node) reads the same trees and pages again until
# the next pass: objects never change, so what was parsed is kept, by object id (bounded).
_ORDERED: dict[pygit2.Oid, list[tuple[str, pygit2.Oid]]] = {}
_PAGES: dict[pygit2.Oid, tuple[QueueEntry, ...]] = {}
_TREES: dict[str, pygit2.Oid] = {}  # status commit -> its tree
CACHED = 1024  # of each


def _remember(cache: dict[K, T], oid: K, value: T) -> T:
    if len(cache) >= CACHED:
        cache.clear()
    cache[oid] = value
    return value


def read_queue(repo: pygit2.Repository, status_tip: str | None) -> QueueIndex:
    """The whole queue of the status commit `status_tip`, each task once, in claim order
    (CorruptState if it cannot be read). Claims read `QueueView` instead, page by page."""
    if status_tip is None:
        return QueueIndex()
    view = QueueView(repo, status_tip)
    tasks: dict[str, QueueEntry] = {}
    for agent in view.agents():
        for entry in view.entries(agent):
            tasks.setdefault(entry.key, entry)
    return QueueIndex(sorted(tasks.values(), key=lambda e: e.order), view.meta)


def queue_files(root: pygit2.Tree | None) -> dict[str, str]:
    """Every file of the queue in the status tree `root` (the legacy `queue.json` included):
    path -> blob id. What a queue built from scratch replaces."""
    out: dict[str, str] = {}
    if root is None:
        return out
    if LEGACY_FILE in root:
        out[LEGACY_FILE] = str(root[LEGACY_FILE].id)
    if QUEUE_DIR in root:
        _walk(root[QUEUE_DIR], QUEUE_DIR, out)
    return out


def _walk(obj: pygit2.Object, path: str, out: dict[str, str]) -> None:
    if isinstance(obj, pygit2.Tree):
        for child in obj:
            _walk(child, f"{path}/{child.name}", out)
    else:
        out[path] = str(obj.id)


def _file(root: pygit2.Tree, path: str) -> bytes:
    obj = root[path]
    if not isinstance(obj, pygit2.Blob):
        raise KeyError(path)
    return obj.data


def queue_changes(repo: pygit2.Repository, old_tip: str, new_tip: str) -> tuple[set[str], dict[str, str | None]]:
    """What changed between two status commits: the task keys whose status file changed (any
    `.json` outside the queue, named `<mission>/.../<task>.json`), and the queue's files that
    changed (path -> new blob id, None if deleted). One tree diff: it costs what changed."""
    old = repo[old_tip].peel(pygit2.Commit).tree
    new = repo[new_tip].peel(pygit2.Commit).tree
    keys: set[str] = set()
    files: dict[str, str | None] = {}
    for delta in old.diff_to_tree(new).deltas:
        gone = delta.status == pygit2.enums.DeltaStatus.DELETED
        path = (delta.old_file if gone else delta.new_file).path
        if path == LEGACY_FILE or path.startswith(f"{QUEUE_DIR}/"):
            files[path] = None if gone else str(delta.new_file.id)
        elif path.endswith(_SUFFIX) and "/" in path:
            mission, _, rest = path.partition("/")
            keys.add(f"{mission}/{rest.rsplit('/', 1)[-1].removesuffix(_SUFFIX)}")
    return keys, files
