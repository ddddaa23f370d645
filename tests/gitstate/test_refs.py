"""A compare-and-swap that loses is a Conflict; any other Git failure is a GitFailure naming it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygit2
import pytest

from reconciler.gitstate.refs import ZERO, Update, Verify, transact
from reconciler.vocabulary.errors import Conflict, GitFailure
from tests.conftest import git, rev


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "commit", "-q", "--allow-empty", "-m", "one")
    git(root, "commit", "-q", "--allow-empty", "-m", "two")
    return pygit2.Repository(str(root))


def head(repo: pygit2.Repository, spec: str = "HEAD") -> str:
    return str(repo.revparse_single(spec).id)


def test_lost_races_are_conflicts(repo: pygit2.Repository) -> None:
    one, two = head(repo, "HEAD~1"), head(repo)
    transact(repo, [Update("refs/mc/x", one, ZERO)])
    with pytest.raises(Conflict):  # it exists already
        transact(repo, [Update("refs/mc/x", two, ZERO)])
    with pytest.raises(Conflict):  # it is not at the expected value
        transact(repo, [Update("refs/mc/x", two, two)])
    with pytest.raises(Conflict):  # it does not exist (any more)
        transact(repo, [Update("refs/mc/gone", two, one)])
    with pytest.raises(Conflict):
        transact(repo, [Update("refs/mc/y", two, ZERO)], [Verify("refs/mc/x", two)])
    assert rev(Path(repo.workdir), "refs/mc/x") == one
    assert rev(Path(repo.workdir), "refs/mc/y") is None  # all or nothing


def test_a_live_lock_is_a_conflict_and_a_stale_one_is_broken(repo: pygit2.Repository) -> None:
    one, two = head(repo, "HEAD~1"), head(repo)
    transact(repo, [Update("refs/mc/x", one, ZERO)])
    lock = Path(repo.path) / "refs/mc/x.lock"
    lock.write_text("")
    with pytest.raises(Conflict):
        transact(repo, [Update("refs/mc/x", two, one)])
    old = time.time() - 60
    os.utime(lock, (old, old))
    transact(repo, [Update("refs/mc/x", two, one)])
    assert not lock.exists()


def test_other_failures_are_errors_naming_the_cause(repo: pygit2.Repository) -> None:
    one = head(repo)
    with pytest.raises(GitFailure) as missing:
        transact(repo, [Update("refs/mc/x", "1" * 40, ZERO)])
    assert "nonexistent object" in str(missing.value)
    assert "refs/mc/x" in str(missing.value)
    with pytest.raises(GitFailure) as bad:
        transact(repo, [Update("refs/mc/a/../b", one, ZERO)])
    assert "invalid ref format" in str(bad.value)
    assert not isinstance(bad.value, Conflict)
