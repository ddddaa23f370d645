"""A cache of parsed, valid manifests on disk (`.mc/cache/manifests.json`), so that a restart
does not parse and validate again what no commit changed.

Entries are keyed by path and blob id, and hold the parsed document, exactly what `read_manifest`
produced; the typed object is built from it again on a hit (cheap), and the line and column
marks are parsed again from the file only if a finding ever needs one. Only files without findings are cached. The file names the cache format and a
fingerprint of the JSON Schemas and of the code that reads manifests, and carries the sha256 of
its entries: a cache that is unreadable, of another format, made for other schemas or code, or
whose entries do not match their checksum, is ignored (and replaced on the next save), never
trusted. It is JSON, never pickle: reading it runs no code.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pygit2

from reconciler.manifests.layout import Location
from reconciler.manifests.manifest_file import ManifestFile
from reconciler.manifests.model import build
from reconciler.manifests.yamldoc import YamlDoc

FORMAT = 2
FILE = "manifests.json"
_CODE = ("model.py", "task_model.py", "manifest_file.py", "yamldoc.py", "schema_check.py", "disk_cache.py")


def cache_dir(repo: pygit2.Repository) -> Path:
    """`.mc/cache/` of the working tree (of the Git directory, for a bare repository)."""
    return Path(repo.workdir or repo.path) / ".mc" / "cache"


@cache
def fingerprint() -> str:
    """The schemas and the code that reads manifests: what a cached entry depends on."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    schemas = here.parent / "schemas"
    for path in sorted(schemas.glob("*.schema.json")) + [here / name for name in _CODE]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class ManifestCache:
    """Parsed manifests by (path, blob id), loaded from and saved to `directory`."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self.hits = 0
        self.added = 0
        self.rejected: str | None = None  # why the file on disk was not used, if it was not
        self._read()

    def _read(self) -> None:
        """The file is a header line (format, fingerprint, sha256 of the rest), then the entries."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            self.rejected = f"unreadable: {exc.strerror}"
            return
        head, _, body = raw.partition(b"\n")
        try:
            header = json.loads(head)
        except ValueError:
            self.rejected = "unreadable header"
            return
        if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("fingerprint") != fingerprint():
            self.rejected = "another format, schema or code version"
            return
        if hashlib.sha256(body).hexdigest() != header.get("sha256"):
            self.rejected = "its entries do not match their checksum"
            return
        enabled = gc.isenabled()
        gc.disable()  # json builds many small objects and no cycles: the collector's scans would double the cost
        try:
            entries = json.loads(body)
        except ValueError:
            self.rejected = "unreadable entries"
            return
        finally:
            if enabled:
                gc.enable()
        if isinstance(entries, dict):
            self.entries = entries

    @staticmethod
    def key(path: str, oid: str) -> str:
        return f"{oid} {path}"

    def get(self, path: str, oid: str, location: Location, read: Callable[[], bytes]) -> ManifestFile | None:
        """The cached file, or None; `read` gives its bytes if a position is ever asked for."""
        entry = self.entries.get(self.key(path, oid))
        if entry is None:
            return None
        try:
            doc = YamlDoc.deferred(entry["data"], path, read)
            obj = build(location.kind, doc.data, location.mission, path)
        except (KeyError, TypeError, ValueError):
            return None  # a malformed entry: parse the file instead
        self.hits += 1
        return ManifestFile(path, oid, location, doc, obj)

    def put(self, mf: ManifestFile) -> None:
        if mf.findings or mf.obj is None or mf.doc is None:
            return
        # read_yaml gives JSON-like data only (no timestamps, no tags): it serialises as it is
        self.entries[self.key(mf.path, mf.oid)] = {"data": mf.doc.data}
        self.added += 1

    def save(self, keep: Iterable[ManifestFile] | None = None) -> None:
        """Write the cache (only the entries of the files in `keep`, if given), atomically."""
        wanted = None if keep is None else {self.key(mf.path, mf.oid) for mf in keep}
        entries = self.entries if wanted is None else {k: v for k, v in self.entries.items() if k in wanted}
        body = json.dumps(entries, separators=(",", ":")).encode()
        header = {"format": FORMAT, "fingerprint": fingerprint(), "sha256": hashlib.sha256(body).hexdigest()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.path.parent.parent / ".gitignore"
        if self.path.parent.parent.name == ".mc" and not ignore.exists():
            ignore.write_text("# MissionControl's local state: never committed\n*\n")
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(json.dumps(header).encode() + b"\n" + body)
        tmp.replace(self.path)
