"""The overlap index: a LanceDB table on disk under `.mc/index/` (ignored by Git) with one row per
task of every mission and per published result, each with its embedding.

It is built from a desired-state commit and kept current from tree diffs: a changed task file
re-embeds its one row; a new publication merge adds its result's summary. `meta.json` records the
commit the table reflects, the model, the schema version and the boilerplate lines stripped
(chosen at build time). A table whose meta is missing, unreadable, of another schema or model,
or whose commit is not in the history of the one asked for, is rebuilt; one that is merely
behind is updated; it is never used stale. Writers take an exclusive lock on `.mc/index/lock`.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2

from reconciler.manifests.layout import MISSIONS_DIR, classify
from reconciler.manifests.manifest_file import read_manifest
from reconciler.manifests.model import Task
from reconciler.overlap.embed import DIMENSIONS, Embedder
from reconciler.overlap.text import boilerplate, document, strip_title
from reconciler.vocabulary.kinds import Kind
from reconciler.vocabulary.trailers import Trailer, parse

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SCHEMA_VERSION = 2  # bump when what a row holds or embeds changes: older tables are rebuilt
TABLE = "items"
ANN_MIN_ROWS = 5000  # from this many rows, a vector index (rows added later are searched exactly)
PUBLICATION_SCAN = 100_000  # first-parent commits read for publication merges
Progress = Callable[[int, int], None]  # (done, total)


def index_dir(repo: pygit2.Repository) -> Path:
    return Path(repo.workdir or repo.path) / ".mc" / "index"


@dataclass(frozen=True, slots=True)
class Item:
    """One indexed work item: a task (`kind` task) or a published result's summary (result)."""

    id: str  # "task:MISSION/NAME" or "result:MISSION/NAME"
    key: str  # MISSION/NAME
    kind: str
    mission: str
    kluster: str
    title: str
    description: str
    paths: tuple[str, ...]
    source: str  # the manifest's blob id, or the result commit


@dataclass(frozen=True, slots=True)
class Hit:
    item: Item
    vector: npt.NDArray[np.float32] | None
    lexical: float | None  # BM25 / the search's best, when it was a full-text hit


def _task_item(task: Task, blob: str) -> Item:
    key = str(task.key)
    return Item(
        "task:" + key, key, "task", task.mission or "", task.kluster, task.title, task.description, task.paths, blob
    )


def _tasks(repo: pygit2.Repository, tree: pygit2.Tree) -> Iterator[tuple[str, str, Item | None]]:
    """(path, blob, item or None if it does not validate) for every task file in `tree`."""
    if MISSIONS_DIR not in tree:
        return
    for mission in tree[MISSIONS_DIR].peel(pygit2.Tree):
        if mission.type_str != "tree":
            continue
        mtree = mission.peel(pygit2.Tree)
        if "tasks" not in mtree or mtree["tasks"].type_str != "tree":
            continue
        yield from _task_dir(repo, mtree["tasks"].peel(pygit2.Tree), f"{MISSIONS_DIR}/{mission.name}/tasks")


def _task_dir(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, str, Item | None]]:
    for entry in tree:
        path = f"{prefix}/{entry.name}"
        if entry.type_str == "tree":  # tasks/ may have subdirectories
            yield from _task_dir(repo, entry.peel(pygit2.Tree), path)
        elif entry.type_str == "blob" and classify(path) is not None:
            yield path, str(entry.id), _read_task(repo, path, str(entry.id))


def _read_task(repo: pygit2.Repository, path: str, blob: str) -> Item | None:
    location = classify(path)
    if location is None or location.kind is not Kind.TASK:
        return None
    mf = read_manifest(path, blob, repo[blob].peel(pygit2.Blob).data, location)
    return _task_item(mf.obj, blob) if isinstance(mf.obj, Task) else None


def _publications(repo: pygit2.Repository, tip: str, stop: str | None) -> Iterator[Item]:
    """Published results on the first-parent history from `tip` back to `stop` (exclusive)."""
    commit: pygit2.Commit | None = repo[tip].peel(pygit2.Commit)
    for _ in range(PUBLICATION_SCAN):
        if commit is None or str(commit.id) == stop:
            return
        claims = parse(commit.message)
        if len(commit.parent_ids) > 1 and Trailer.APPROVED_BY in claims and Trailer.TASK in claims:
            key = claims[Trailer.TASK]
            result = repo[commit.parent_ids[1]].peel(pygit2.Commit)
            summary = result.message.rstrip("\n").rsplit("\n\n", 1)
            text = summary[0] if len(summary) > 1 and parse(result.message) else result.message
            title, _, body = text.strip().partition("\n")
            mission = key.split("/", 1)[0]
            yield Item("result:" + key, key, "result", mission, "", title, body.strip(), (), str(result.id))
        commit = commit.parents[0] if commit.parents else None


class OverlapIndex:
    """The table for one repository; `ensure(commit)` before searching."""

    def __init__(self, repo: pygit2.Repository, embedder: Embedder | None, root: Path | None = None) -> None:
        self.repo = repo
        self.embedder = embedder
        self.root = root or index_dir(repo)
        self.meta: dict[str, Any] = {}
        self._table: Any = None
        self._boilerplate: frozenset[str] = frozenset()

    @property
    def model(self) -> str | None:
        return self.embedder.name if self.embedder is not None else None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root.parent / ".gitignore"  # .mc/ ignores itself, whatever the repository's .gitignore says
        if not ignore.exists():
            ignore.write_text("# MissionControl's local state (the overlap index): never committed\n*\n")
        with (self.root / "lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _read_meta(self) -> dict[str, Any] | None:
        try:
            meta = json.loads((self.root / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("schema") != SCHEMA_VERSION or meta.get("model") != self.model:
            return None
        return meta

    def _write_meta(self, commit: str) -> None:
        self.meta = {
            "schema": SCHEMA_VERSION,
            "model": self.model,
            "commit": commit,
            "boilerplate": sorted(self._boilerplate),
        }
        tmp = self.root / "meta.json.tmp"
        tmp.write_text(json.dumps(self.meta, indent=2), encoding="utf-8")
        tmp.replace(self.root / "meta.json")

    def _open(self) -> Any:
        import lancedb

        return lancedb.connect(str(self.root / "lance")).open_table(TABLE)

    def ensure(self, commit: str, progress: Progress | None = None) -> str:
        """Bring the table to `commit`: 'current', 'updated' or 'rebuilt'."""
        with self._locked():
            meta = self._read_meta()
            if meta is not None and meta == self.meta and self._table is not None and meta.get("commit") == commit:
                return "current"  # what this process last read or wrote, unchanged on disk
            if meta is not None:
                try:
                    self._table = self._open()
                except Exception:
                    meta = None
            if meta is None or not self._is_ancestor(str(meta.get("commit")), commit):
                self._rebuild(commit, progress)
                return "rebuilt"
            self.meta, self._boilerplate = meta, frozenset(meta.get("boilerplate", ()))
            if meta["commit"] == commit:
                return "current"
            self._update(str(meta["commit"]), commit)
            return "updated"

    def rebuild(self, commit: str, progress: Progress | None = None) -> int:
        """Recreate the table from Git alone; the number of rows."""
        with self._locked():
            return self._rebuild(commit, progress)

    def _is_ancestor(self, old: str, new: str) -> bool:
        try:
            return old == new or self.repo.descendant_of(new, old)
        except (KeyError, ValueError, pygit2.GitError):
            return False

    def _rebuild(self, commit: str, progress: Progress | None) -> int:
        import lancedb
        from lancedb.index import FTS

        tree = self.repo[commit].peel(pygit2.Commit).tree
        items = [item for _, _, item in _tasks(self.repo, tree) if item is not None]
        items += list(_publications(self.repo, commit, None))
        self._boilerplate = boilerplate(i.description for i in items)
        lance = self.root / "lance"
        if lance.exists():
            shutil.rmtree(lance)
        db = lancedb.connect(str(lance))
        rows = self._rows(items, progress)
        self._table = db.create_table(TABLE, schema=_schema())
        if rows:
            self._table.add(rows)
        self._table.create_index("text", config=FTS())
        if len(rows) >= ANN_MIN_ROWS:
            from lancedb.index import HnswSq

            # approximate nearest neighbours for the candidates (each is then scored exactly), and a
            # bitmap of missions for the prefilter: a flat search filtered by mission costs O(rows)
            self._table.create_index("vector", config=HnswSq(distance_type="cosine"))
            self._table.create_scalar_index("mission", index_type="BITMAP")
        self._write_meta(commit)
        return len(items)

    def _update(self, old: str, new: str) -> None:
        """Re-embed the task files the diff from `old` to `new` touches, and add new publications."""
        repo = self.repo
        old_tree, new_tree = repo[old].peel(pygit2.Commit).tree, repo[new].peel(pygit2.Commit).tree
        gone: list[str] = []  # SQL conditions on the rows to delete
        added: list[Item] = []
        for delta in old_tree.diff_to_tree(new_tree).deltas:
            before, after = delta.old_file, delta.new_file
            if _is_task(before.path) and delta.status != pygit2.enums.DeltaStatus.ADDED:
                mission = before.path.split("/")[1]
                gone.append(f"(kind = 'task' AND mission = {_sql(mission)} AND source = {_sql(str(before.id))})")
            if _is_task(after.path) and delta.status != pygit2.enums.DeltaStatus.DELETED:
                item = _read_task(repo, after.path, str(after.id))
                if item is not None:
                    gone.append(f"id = {_sql(item.id)}")
                    added.append(item)
        published = list(_publications(repo, new, old))
        gone += [f"id = {_sql(i.id)}" for i in published]
        if gone:
            self._table.delete(" OR ".join(gone))
        rows = self._rows(added + published, None)
        if rows:
            self._table.add(rows)
        self._write_meta(new)

    def _rows(self, items: Sequence[Item], progress: Progress | None) -> list[dict[str, Any]]:
        import numpy as np

        texts = [document(i.title, i.description, self._boilerplate) for i in items]
        titles = [strip_title(i.title) for i in items]  # what is embedded: see overlap.scores
        vectors = np.zeros((len(items), DIMENSIONS), dtype=np.float32)
        if self.embedder is not None:
            step = 256
            for start in range(0, len(titles), step):
                vectors[start : start + step] = self.embedder.embed(titles[start : start + step])
                if progress is not None:
                    progress(min(start + step, len(texts)), len(texts))
        return [
            {
                "id": i.id,
                "key": i.key,
                "kind": i.kind,
                "mission": i.mission,
                "kluster": i.kluster,
                "title": i.title,
                "description": i.description,
                "paths": list(i.paths),
                "source": i.source,
                "text": text,
                "vector": vector,
            }
            for i, text, vector in zip(items, texts, vectors, strict=True)
        ]

    def paths_of(self, keys: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The path scopes of these tasks, as indexed."""
        out: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(keys), 500):
            ids = ", ".join(_sql("task:" + k) for k in keys[start : start + 500])
            rows = self._table.search().where(f"id IN ({ids})").select(["key", "paths"]).limit(None).to_list()
            out.update({r["key"]: tuple(r["paths"] or ()) for r in rows})
        return out

    def count(self) -> int:
        return int(self._table.count_rows())

    def items(self) -> list[Item]:
        rows = self._table.search().select(_ITEM_FIELDS).limit(None).to_list()
        return [_item(r) for r in rows]

    def search(self, text: str, vector: npt.NDArray[np.float32] | None, limit: int, where: str | None) -> list[Hit]:
        """Candidates: the `limit` nearest by vector and the `limit` best full-text hits."""
        found: dict[str, Hit] = {}
        fields = [*_ITEM_FIELDS, "vector"]
        query = self._table.search(text, query_type="fts").select([*fields, "_score"]).limit(limit)
        if where:
            query = query.where(where, prefilter=True)
        hits = query.to_list() if text.strip() else []
        best = max((h["_score"] for h in hits), default=0.0)
        for h in hits:
            found[h["id"]] = Hit(_item(h), _vector(h), h["_score"] / best if best > 0 else None)
        if vector is not None and self.embedder is not None:
            query = self._table.search(vector).distance_type("cosine").select([*fields, "_distance"]).limit(limit)
            if where:
                query = query.where(where, prefilter=True)
            for h in query.to_list():
                if h["id"] not in found:
                    found[h["id"]] = Hit(_item(h), _vector(h), None)
        return list(found.values())


def _is_task(path: str) -> bool:
    location = classify(path)
    return location is not None and location.kind is Kind.TASK


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_ITEM_FIELDS = ["id", "key", "kind", "mission", "kluster", "title", "description", "paths", "source"]


def _item(row: dict[str, Any]) -> Item:
    return Item(
        row["id"],
        row["key"],
        row["kind"],
        row["mission"],
        row["kluster"],
        row["title"],
        row["description"],
        tuple(row["paths"] or ()),
        row["source"],
    )


def _vector(row: dict[str, Any]) -> npt.NDArray[np.float32] | None:
    import numpy as np

    v = row.get("vector")
    return None if v is None else np.asarray(v, dtype=np.float32)


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("key", pa.string()),
            pa.field("kind", pa.string()),
            pa.field("mission", pa.string()),
            pa.field("kluster", pa.string()),
            pa.field("title", pa.string()),
            pa.field("description", pa.string()),
            pa.field("paths", pa.list_(pa.string())),
            pa.field("source", pa.string()),
            pa.field("text", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), DIMENSIONS)),
        ]
    )
