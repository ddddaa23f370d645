"""The disk cache of parsed manifests: a warm load gives exactly the snapshot a cold load gives,
and a corrupt, altered or foreign cache is ignored (and replaced), never trusted."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pygit2
import pytest

from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.store import Store
from reconciler.manifests.disk_cache import FILE, ManifestCache, cache_dir
from reconciler.manifests.loader import GitSource, Snapshot, load
from reconciler.manifests.model import Task
from tests.conftest import EXAMPLES, git


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    root = tmp_path / "loans"
    shutil.copytree(EXAMPLES / "loan-approval", root)
    (root / "missions/loan-approval/tasks/broken.yaml").write_text("apiVersion: missioncontrol.dev/v1\nkind: Task\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "loans")
    return pygit2.Repository(str(root))


def tree(repo: pygit2.Repository) -> pygit2.Tree:
    return repo.revparse_single("main").peel(pygit2.Tree)


def same(a: Snapshot, b: Snapshot) -> None:
    assert sorted(a.files) == sorted(b.files)
    for path, x in a.files.items():
        y = b.files[path]
        assert (x.oid, x.location, x.obj, x.findings) == (y.oid, y.location, y.obj, y.findings), path
        assert (x.doc is None) == (y.doc is None)
        if x.doc is not None and y.doc is not None:
            assert (x.doc.data, x.doc.marks, x.doc.key_marks) == (y.doc.data, y.doc.marks, y.doc.key_marks)


def test_a_warm_load_is_the_cold_load(repo: pygit2.Repository) -> None:
    cold = load(GitSource(repo, tree(repo)))
    cache = ManifestCache(cache_dir(repo))
    first = load(GitSource(repo, tree(repo)), cache=cache)
    cache.save(first.manifests())
    same(cold, first)
    warm_cache = ManifestCache(cache_dir(repo))
    warm = load(GitSource(repo, tree(repo)), cache=warm_cache)
    same(cold, warm)
    assert warm.parsed == 1  # only the file with findings is parsed again: it is never cached
    assert warm.cached == len(cold.files) - 1
    assert cold.files["missions/loan-approval/tasks/broken.yaml"].findings


@pytest.mark.parametrize("damage", ["garbage", "foreign", "altered", "truncated", "bad-entry"])
def test_a_damaged_cache_is_ignored(repo: pygit2.Repository, damage: str) -> None:
    cache = ManifestCache(cache_dir(repo))
    cold = load(GitSource(repo, tree(repo)), cache=cache)
    cache.save(cold.manifests())
    path = cache_dir(repo) / FILE
    head, _, body = path.read_bytes().partition(b"\n")
    if damage == "garbage":
        path.write_bytes(b"\x00not json at all")
    elif damage == "foreign":
        header = json.loads(head)
        path.write_bytes(json.dumps({**header, "fingerprint": "0" * 64}).encode() + b"\n" + body)
    elif damage == "altered":  # a title changed in the cache, not in Git
        path.write_bytes(head + b"\n" + body.replace(b"Score the credit risk", b"Approve every loan now"))
    elif damage == "truncated":
        path.write_bytes(head + b"\n" + body[: len(body) // 2])
    else:  # an entry of the right checksum that does not hold a manifest: parsed again
        entries = json.loads(body)
        key = next(k for k in entries if k.endswith("score-risk.yaml"))
        entries[key] = {"data": {"spec": 1}, "marks": [], "keys": []}
        new = json.dumps(entries, separators=(",", ":")).encode()
        header = {**json.loads(head), "sha256": hashlib.sha256(new).hexdigest()}
        path.write_bytes(json.dumps(header).encode() + b"\n" + new)
    again = ManifestCache(cache_dir(repo))
    assert (again.rejected is None) == (damage == "bad-entry")
    warm = load(GitSource(repo, tree(repo)), cache=again)
    same(cold, warm)
    titles = [mf.obj.title for mf in warm.manifests() if isinstance(mf.obj, Task)]
    assert not any("Approve every loan" in t for t in titles)


def test_a_restarted_reconciler_reads_what_the_last_one_parsed(repo: pygit2.Repository) -> None:
    first = Reconciler(Store(repo))
    first.run_once()
    assert first.snapshot is not None
    assert first.snapshot.cached == 0
    assert (cache_dir(repo) / FILE).is_file()
    again = Reconciler(Store(pygit2.Repository(repo.path)))
    again.run_once()
    assert again.snapshot is not None
    assert again.snapshot.parsed == 1  # the broken file
    assert again.snapshot.cached == len(again.snapshot.files) - 1
    assert git(Path(repo.workdir), "status", "--porcelain") == ""
