"""Load every manifest of a mission repository, from a Git tree or a directory, incrementally.

One walker serves both sources. From Git, a kind directory whose tree id is unchanged since
the previous snapshot is reused whole, and a file whose blob id is unchanged is not reparsed,
so a reload after a one-file commit parses one file.
"""

from __future__ import annotations

import bisect
import gc
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pygit2

from reconciler.manifests.findings import Finding
from reconciler.manifests.layout import KIND_DIRS, MISSIONS_DIR, PRINCIPALS_FILE, Location, classify, is_yaml, nests
from reconciler.manifests.manifest_file import ManifestFile, read_manifest


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    is_dir: bool
    oid: str | None  # known up front for Git entries; None for files on disk


class Source(Protocol):
    tree_id: str | None

    def entries(self, path: str) -> list[Entry]: ...

    def read(self, path: str, entry: Entry) -> tuple[str, bytes]: ...


class GitSource:
    """Manifests in a Git tree (no checkout)."""

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree) -> None:
        self.repo = repo
        self.tree = tree
        self.tree_id: str | None = str(tree.id)

    def subtree(self, path: str) -> pygit2.Tree | None:
        if not path:
            return self.tree
        try:
            obj = self.tree[path]
        except KeyError:
            return None
        return obj if obj.type == pygit2.enums.ObjectType.TREE else None  # type: ignore[return-value]

    def entries(self, path: str) -> list[Entry]:
        tree = self.subtree(path)
        if tree is None:
            return []
        out = []
        for obj in tree:
            if obj.type == pygit2.enums.ObjectType.TREE:
                out.append(Entry(obj.name or "", True, str(obj.id)))
            elif obj.type == pygit2.enums.ObjectType.BLOB and obj.filemode != pygit2.enums.FileMode.LINK:
                out.append(Entry(obj.name or "", False, str(obj.id)))
        return out

    def read(self, path: str, entry: Entry) -> tuple[str, bytes]:
        assert entry.oid is not None
        blob = self.repo[entry.oid]
        return entry.oid, blob.data  # type: ignore[attr-defined]


class DirSource:
    """Manifests in a directory on disk (a working tree)."""

    tree_id: str | None = None

    def __init__(self, root: Path) -> None:
        self.root = root

    def entries(self, path: str) -> list[Entry]:
        try:
            with os.scandir(self.root / path) as it:
                return [
                    Entry(e.name, e.is_dir(follow_symlinks=False), None)
                    for e in it
                    if not e.is_symlink() and (e.is_dir() or e.is_file())
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read(self, path: str, entry: Entry) -> tuple[str, bytes]:
        data = (self.root / path).read_bytes()
        return str(pygit2.hash(data)), data


@dataclass(slots=True)
class Snapshot:
    """Every manifest file of one revision (or working tree), with what it cost to load."""

    tree_id: str | None = None
    files: dict[str, ManifestFile] = field(default_factory=dict)
    stray: list[Finding] = field(default_factory=list)
    dirs: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    parsed: int = 0
    reused: int = 0
    cached: int = 0  # taken from the disk cache (`disk_cache`), not parsed

    def manifests(self) -> Iterator[ManifestFile]:
        return iter(self.files.values())


def _within(directory: str, top: str) -> bool:
    return directory == top or directory.startswith(top + "/")


def _stray(path: str, why: str) -> Finding:
    return Finding(path, 1, 1, "", f"ignored: {why}", "layout", "warning")


class Cache(Protocol):
    """Parsed manifests kept across processes (`disk_cache.ManifestCache`)."""

    def get(self, path: str, oid: str, location: Location, read: Callable[[], bytes]) -> ManifestFile | None: ...

    def put(self, mf: ManifestFile) -> None: ...


class _Walk:
    def __init__(self, source: Source, previous: Snapshot | None, cache: Cache | None) -> None:
        self.source = source
        self.previous = previous
        self.cache = cache
        self.snap = Snapshot(source.tree_id)

    def _cached(self, path: str, entry: Entry, oid: str, location: Location) -> bool:
        if self.cache is None:
            return False
        hit = self.cache.get(path, oid, location, lambda: self.source.read(path, entry)[1])
        if hit is None:
            return False
        self.snap.files[path] = hit
        self.snap.cached += 1
        return True

    def file(self, path: str, entry: Entry) -> None:
        location = classify(path)
        if location is None:
            if is_yaml(path):
                self.snap.stray.append(_stray(path, "not a manifest location (see the repository layout)"))
            return
        prev = self.previous.files.get(path) if self.previous else None
        if prev is not None and entry.oid is not None and prev.oid == entry.oid:
            self.snap.files[path] = prev
            self.snap.reused += 1
            return
        if entry.oid is not None and self._cached(path, entry, entry.oid, location):
            return
        oid, data = self.source.read(path, entry)
        if prev is not None and prev.oid == oid:
            self.snap.files[path] = prev
            self.snap.reused += 1
            return
        if entry.oid is None and self._cached(path, entry, oid, location):
            return
        mf = self.snap.files[path] = read_manifest(path, oid, data, location)
        self.snap.parsed += 1
        if self.cache is not None:
            self.cache.put(mf)

    def kind_dir(self, path: str, entry: Entry) -> None:
        """Read a kind directory (and, for `tasks/`, its subdirectories, each its own entry of
        `dirs`), reusing every directory whose tree did not change."""
        cached = self.previous.dirs.get(path) if self.previous else None
        if cached is not None and entry.oid is not None and cached[0] == entry.oid and self.previous:
            kept = {d: c for d, c in self.previous.dirs.items() if _within(d, path)} if nests(path) else {path: cached}
            for directory, (oid, files) in kept.items():
                for file_path in files:
                    self.snap.files[file_path] = self.previous.files[file_path]
                self.snap.reused += len(files)
                self.snap.dirs[directory] = (oid, files)
            return
        members: list[str] = []
        for child in sorted(self.source.entries(path), key=lambda e: e.name):
            child_path = f"{path}/{child.name}"
            if child.is_dir and nests(path):
                self.kind_dir(child_path, child)
            elif child.is_dir:
                self.snap.stray.append(_stray(child_path, "manifests are not read from subdirectories"))
            else:
                self.file(child_path, child)
                if child_path in self.snap.files:
                    members.append(child_path)
        if entry.oid is not None:
            self.snap.dirs[path] = (entry.oid, members)

    def run(self) -> Snapshot:
        if (
            self.previous is not None
            and self.source.tree_id is not None
            and self.previous.tree_id == self.source.tree_id
        ):
            return Snapshot(
                self.previous.tree_id,
                self.previous.files,
                self.previous.stray,
                self.previous.dirs,
                0,
                len(self.previous.files),
            )
        root = {e.name: e for e in self.source.entries("")}
        if PRINCIPALS_FILE in root and not root[PRINCIPALS_FILE].is_dir:
            self.file(PRINCIPALS_FILE, root[PRINCIPALS_FILE])
        for mission in sorted(self.source.entries(MISSIONS_DIR), key=lambda e: e.name):
            mpath = f"{MISSIONS_DIR}/{mission.name}"
            if not mission.is_dir:
                self.file(mpath, mission)
                continue
            for entry in sorted(self.source.entries(mpath), key=lambda e: e.name):
                epath = f"{mpath}/{entry.name}"
                if not entry.is_dir:
                    self.file(epath, entry)
                elif entry.name in KIND_DIRS:
                    self.kind_dir(epath, entry)
        return self.snap


def load(source: Source, previous: Snapshot | None = None, cache: Cache | None = None) -> Snapshot:
    """Load a snapshot, reusing whatever `previous` already parsed, and what `cache` holds.

    The cyclic garbage collector is paused meanwhile: parsing allocates many small objects
    and no cycles, and the collector's scans cost over a tenth of a bulk load.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Walk(source, previous, cache).run()
    finally:
        if enabled:
            gc.enable()


def load_changed(
    source: GitSource, previous: Snapshot, changed: Collection[str]
) -> dict[str, ManifestFile | None] | None:
    """Bring `previous` to `source`, given the paths that changed between their trees
    (`changed_paths`), reading only those files: in place, so a commit costs what it changed,
    not a copy of every file's entry (the caller holds the only reference). The files it
    replaced, by path (None: a new one).

    None, with `previous` untouched, when a change is not a manifest file in a kind directory
    `previous` read (a new directory, a subdirectory, a mission file...): then `load` must walk
    the tree.
    """
    by_dir: dict[str, list[str]] = {}
    for path in changed:
        directory = path.rpartition("/")[0]
        if directory not in previous.dirs or classify(path) is None:
            return None
        by_dir.setdefault(directory, []).append(path)
    planned: list[tuple[str, pygit2.Tree, list[tuple[str, pygit2.Blob | None]]]] = []
    for directory, paths in by_dir.items():  # every lookup before the first change
        tree = source.subtree(directory)
        if tree is None:
            return None
        blobs: list[tuple[str, pygit2.Blob | None]] = []
        for path in paths:
            try:
                obj = source.tree[path]
            except KeyError:
                blobs.append((path, None))
                continue
            if not isinstance(obj, pygit2.Blob) or obj.filemode == pygit2.enums.FileMode.LINK:
                return None
            blobs.append((path, obj))
        planned.append((directory, tree, blobs))
    ancestors: dict[str, str] = {}  # enclosing directories read (tasks/ with subdirectories): their new trees
    for directory in by_dir:
        parent = directory.rpartition("/")[0]
        while parent in previous.dirs and parent not in ancestors:
            tree = source.subtree(parent)
            if tree is None:
                return None
            ancestors[parent] = str(tree.id)
            parent = parent.rpartition("/")[0]
    snap = previous
    replaced = {path: snap.files.get(path) for path in changed}
    snap.tree_id, snap.parsed, snap.cached = source.tree_id, 0, 0
    walk = _Walk(source, None, None)
    walk.snap = snap
    for directory, tree, blobs in planned:
        members = snap.dirs[directory][1]
        for path, blob in blobs:
            if blob is None:
                if snap.files.pop(path, None) is not None:
                    members.remove(path)
                continue
            if replaced[path] is None:
                bisect.insort(members, path)
            walk.file(path, Entry(path.rpartition("/")[2], False, str(blob.id)))
        snap.dirs[directory] = (str(tree.id), members)
    for directory, oid in ancestors.items():  # so that a later walk reuses them only if unchanged
        snap.dirs[directory] = (oid, snap.dirs[directory][1])
    snap.reused = len(snap.files) - snap.parsed
    return replaced


def changed_paths(repo: pygit2.Repository, old_tree: str, new_tree: pygit2.Tree) -> set[str]:
    """The paths of the files that differ between two trees (added, removed or modified)."""
    old = repo[old_tree]
    assert isinstance(old, pygit2.Tree)
    out: set[str] = set()
    for delta in old.diff_to_tree(new_tree).deltas:
        out.add(delta.old_file.path)
        out.add(delta.new_file.path)
    return out
