"""The tips of every ref under one prefix, reread only where refs changed.

A reconcile pass needs the tip of every lease chain, and the mesh nodes' records; walking every
ref for that costs O(refs) per pass (54 ms at 100,000 live leases). `RefTips` keeps the tips and,
at each `read`, asks the filesystem what moved:

- Git's files backend writes a ref by creating `<ref>.lock` and renaming it over `<ref>`, so an
  update gives the ref file a new inode and a new mtime, and bumps its directory's mtime.
- A directory whose stat is unchanged holds no changed ref; in a directory that changed, only
  the files whose (inode, mtime) changed, appeared or vanished are resolved (through libgit2).
- `packed-refs` is rewritten whole by `git pack-refs` / `git gc` and by deleting a packed ref:
  when its stat changes, every ref under the prefix is read again (one walk).

With the refs sharded (`sharded=True`: `<prefix><xx>/<name>`, as lease refs are), a pass costs one
stat per shard directory plus the changed directories' entries: O(changes), never O(refs).

A timestamp younger than RACY_NS (at the time it was seen) is not trusted: a second update
within the filesystem's clock granularity could leave the same stat behind (git's "racy" rule),
so that file or directory is looked at again next time. A reftable repository has no such
files: every `read` walks.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import pygit2

RACY_NS = 100_000_000  # a timestamp younger than this, when seen, is not trusted as a signal
_Stat = tuple[int, int] | None  # (inode, mtime_ns); None: look again next time
ABSENT: _Stat = (0, 0)  # the stat of a directory that does not exist


def _stat(st: os.stat_result, now: int) -> _Stat:
    return None if now - st.st_mtime_ns < RACY_NS else (st.st_ino, st.st_mtime_ns)


class RefTips:
    """The tip of each ref under `prefix`, by the key `key` maps its name to (None: not one of
    ours); `ref_for` is the inverse, the name a key's ref has now (where a layout of before is
    read too, two names may map to one key)."""

    def __init__(
        self,
        repo: pygit2.Repository,
        prefix: str,
        key: Callable[[str], str | None],
        ref_for: Callable[[str], str],
        *,
        sharded: bool,
    ) -> None:
        assert prefix.endswith("/")
        self.repo = repo
        self.prefix = prefix
        self.key = key
        self.ref_for = ref_for
        self.sharded = sharded
        self.tips: dict[str, str] = {}  # key -> commit id
        self.names: dict[str, str] = {}  # key -> the ref name holding it
        git_dir = repo.path
        self._root = os.path.join(git_dir, *prefix.rstrip("/").split("/"))
        self._packed_path = os.path.join(git_dir, "packed-refs")
        self._reftable = os.path.exists(os.path.join(git_dir, "reftable"))
        self._packed: tuple[object, ...] | None = None  # None: never read (or not trusted)
        self._root_stat: _Stat = None
        self._dirs: dict[str, _Stat] = {}  # directory (relative to the root) -> its stat
        self._entries: dict[str, dict[str, _Stat]] = {}  # directory -> ref file -> its stat

    def read(self) -> set[str]:
        """Bring `tips` up to date; the keys whose tip changed, appeared or vanished since the last read."""
        now = time.time_ns()
        packed = self._packed_stat(now)
        if self._reftable or packed is None or packed != self._packed:
            return self._walk(now, packed)
        changed: set[str] = set()
        for directory in self._changed_dirs(now):
            changed |= self._rescan(directory, now)
        return changed

    def wrote(self, key: str, tip: str) -> None:
        """Record a tip this process just wrote (at `ref_for(key)`), so that the next `read`
        does not report it."""
        self.tips[key] = tip
        self.names[key] = self.ref_for(key)

    # -- reading -----------------------------------------------------------------------------

    def _packed_stat(self, now: int) -> tuple[object, ...] | None:
        try:
            st = os.stat(self._packed_path)
        except FileNotFoundError:
            return ("absent",)
        if now - st.st_mtime_ns < RACY_NS:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _walk(self, now: int, packed: tuple[object, ...] | None) -> set[str]:
        """Read every ref under the prefix: at the first read, and whenever `packed-refs` changed.
        The loose files are scanned first, so an update that lands during the walk shows at the
        next read."""
        self._dirs, self._entries = {}, {}
        self._root_stat = None
        if not self._reftable:
            self._root_stat = self._scan_root(now)
            for directory in self._dirs:
                self._entries[directory] = self._scan(directory, now)
        before = self.tips
        self.tips, self.names = {}, {}
        prefix = self.prefix
        for ref in self.repo.references.iterator():  # one walk, no second lookup per ref
            name = ref.name
            if name.startswith(prefix):
                self._found(name, ref)
        self._packed = packed
        return {k for k, _ in before.items() ^ self.tips.items()}

    def _found(self, name: str, ref: pygit2.Reference) -> None:
        key = self.key(name)
        if key is None:
            return
        if self._holds(key, name):
            self.tips[key] = str(ref.target)
            self.names[key] = name

    def _holds(self, key: str, name: str) -> bool:
        """Whether `name` is where `key`'s tip is read: of two names for one key (one in a
        layout of before), the one `ref_for` names."""
        return self.names.get(key, name) == name or self.ref_for(key) == name

    def _scan_root(self, now: int) -> _Stat:
        """The directories under the root (for unsharded refs, the root itself) and the root's stat."""
        try:
            st = os.stat(self._root)
        except FileNotFoundError:
            self._dirs = {}
            return ABSENT
        if not self.sharded:
            self._dirs = {"": _stat(st, now)}
            return _stat(st, now)
        dirs: dict[str, _Stat] = {}
        with os.scandir(self._root) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    dirs[entry.name] = _stat(entry.stat(follow_symlinks=False), now)
        self._dirs = dirs
        return _stat(st, now)

    def _scan(self, directory: str, now: int) -> dict[str, _Stat]:
        path = os.path.join(self._root, directory) if directory else self._root
        out: dict[str, _Stat] = {}
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.name.endswith(".lock") or not entry.is_file(follow_symlinks=False):
                        continue
                    out[entry.name] = _stat(entry.stat(follow_symlinks=False), now)
        except (FileNotFoundError, NotADirectoryError):
            pass
        return out

    def _changed_dirs(self, now: int) -> list[str]:
        """The directories whose stat changed (or was not trusted), including those that appeared
        or vanished since the last read; their recorded stats are brought up to date."""
        before = self._dirs
        try:
            fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            self._dirs, self._root_stat = {}, ABSENT
            return list(before)
        try:
            root_stat = _stat(os.fstat(fd), now)
            if not self.sharded:
                self._dirs = {"": root_stat}
                return [] if root_stat is not None and root_stat == before.get("") else [""]
            if root_stat is None or root_stat != self._root_stat:  # a shard directory came or went
                self._root_stat = self._scan_root(now)
                after = self._dirs
            else:
                after = {}
                for directory in before:  # one stat each, relative to the root: no path to build
                    with contextlib.suppress(FileNotFoundError):
                        after[directory] = _stat(os.stat(directory, dir_fd=fd, follow_symlinks=False), now)
                self._dirs = after
        finally:
            os.close(fd)
        return [d for d in before.keys() | after.keys() if after.get(d) is None or after.get(d) != before.get(d)]

    def _rescan(self, directory: str, now: int) -> set[str]:
        """Resolve the refs of one changed directory whose files changed; the keys that moved."""
        before = self._entries.get(directory, {})
        after = self._scan(directory, now)
        self._entries[directory] = after
        base = self.prefix + (directory + "/" if directory else "")
        changed: set[str] = set()
        for entry in before.keys() | after.keys():
            st = after.get(entry)
            if st is not None and st == before.get(entry):
                continue
            name = base + entry
            key = self.key(name)
            if key is None:
                continue
            ref = self.repo.references.get(name)  # loose or packed, as git resolves it
            tip = None if ref is None else str(ref.target)
            if tip is None:
                if self.names.get(key) == name:
                    del self.tips[key], self.names[key]
                    changed.add(key)
                continue
            if (self.tips.get(key) != tip or self.names.get(key) != name) and self._holds(key, name):
                self.tips[key], self.names[key] = tip, name
                changed.add(key)
        return changed
