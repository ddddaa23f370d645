"""Ref stores: a rejected push is a lost race only when Git says another writer moved the ref."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from reconciler.gitstate.refs import Update
from reconciler.gitstate.store import RemoteStore, _lost_race
from reconciler.vocabulary.errors import Conflict, McError
from reconciler.vocabulary.leases import LeaseState


@pytest.mark.parametrize(
    ("porcelain", "race"),
    [
        ("To x\n!\tabc:refs/mc/leases/m/t\t[rejected] (non-fast-forward)\nDone\n", True),
        ("To x\n!\tabc:refs/mc/leases/m/t\t[rejected] (fetch first)\nDone\n", True),
        ("To x\n!\ta:refs/a\t[rejected] (atomic push failed)\n!\tb:refs/b\t[rejected] (non-fast-forward)\n", True),
        ("To x\n!\tabc:refs/mc/leases/m/t\t[remote rejected] (atomic transaction failed)\n", True),
        ("To x\n!\tabc:refs/mc/leases/m/t\t[remote rejected] (pre-receive hook declined)\n", False),
        ("", False),
    ],
)
def test_lost_race_classification(porcelain: str, race: bool) -> None:
    assert _lost_race(porcelain) is race


def test_a_hook_rejection_is_an_error_not_a_lost_race(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'read-only mirror' >&2\nexit 1\n")
    hook.chmod(0o755)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
    repo = pygit2.Repository(str(clone))
    sig = pygit2.Signature("t", "t@t")
    commit = repo.create_commit(None, sig, sig, "x", repo.TreeBuilder().write(), [])
    store = RemoteStore(repo, "origin")
    with pytest.raises(McError) as info:
        store.transact([Update("refs/mc/leases/m/t", str(commit), None)])
    assert not isinstance(info.value, Conflict)
    assert "failed" in str(info.value)


def test_identical_grants_through_a_remote_have_one_winner(tmp_path: Path) -> None:
    """Same agent, same generation, same instant, two machines: the pushes must still differ."""
    from reconciler.gitstate.leases import advance
    from reconciler.vocabulary.leases import Lease

    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "-C", str(seed), *ident, "commit", "-q", "--allow-empty", "-m", "seed"], check=True)
    subprocess.run(["git", "-C", str(seed), "push", "-q", str(bare), "main"], check=True)
    stores = []
    for name in ("a", "b"):
        clone = tmp_path / name
        subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
        stores.append(RemoteStore(pygit2.Repository(str(clone)), "origin"))
    now = 1_800_000_000.0
    outcomes = []
    for store in stores:  # both decided from the same (empty) view before either pushed
        lease = Lease("m/t", 1, "worker-00000000", None, LeaseState.ACTIVE, now, now, now + 60, 60)
        try:
            advance(store, lease, None, "lease m/t: grant generation 1 to worker-00000000")
            outcomes.append("won")
        except Conflict:
            outcomes.append("lost")
    assert outcomes == ["won", "lost"]
