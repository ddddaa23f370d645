"""A compare-and-swap that loses is a Conflict; any other Git failure is a GitFailure naming it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygit2
import pytest

from reconciler.gitstate import refs
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


def test_one_git_serves_a_process_s_transactions_and_a_failure_ends_only_that_one(
    repo: pygit2.Repository, tmp_path: Path
) -> None:
    one, two = head(repo, "HEAD~1"), head(repo)
    transact(repo, [Update("refs/mc/x", one, ZERO)])
    git_pid = refs._SESSIONS[repo.path].proc.pid
    transact(repo, [Update("refs/mc/x", two, one), Update("refs/mc/y", one, ZERO)], [Verify("refs/heads/main", two)])
    assert refs._SESSIONS[repo.path].proc.pid == git_pid  # the same git, a second transaction
    with pytest.raises(Conflict):
        transact(repo, [Update("refs/mc/x", one, one)])
    with pytest.raises(GitFailure):
        transact(repo, [Update("refs/mc/x", "1" * 40, two)])
    transact(repo, [Update("refs/mc/x", one, two)])  # a new git, after the failures
    assert refs._SESSIONS[repo.path].proc.pid != git_pid
    assert (rev(Path(repo.workdir), "refs/mc/x"), rev(Path(repo.workdir), "refs/mc/y")) == (one, one)
    others = []
    for i in range(refs.MAX_SESSIONS + 2):  # more repositories than sessions kept: the oldest close
        other = tmp_path / f"o{i}"
        git(tmp_path, "init", "-q", str(other))
        others.append(pygit2.Repository(str(other)))
        transact(others[-1], [Update("refs/mc/x", str(others[-1].create_blob(b"x")), ZERO)])
    assert len(refs._SESSIONS) == refs.MAX_SESSIONS
    assert rev(Path(repo.workdir), "refs/mc/x") == one


def test_a_forked_child_does_not_write_through_its_parent_s_git(repo: pygit2.Repository) -> None:
    one, two = head(repo, "HEAD~1"), head(repo)
    transact(repo, [Update("refs/mc/x", one, ZERO)])
    pid = os.fork()
    if pid == 0:  # the child: its own git, and it leaves the parent's alone at exit
        try:
            transact(repo, [Update("refs/mc/x", two, one)])
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert rev(Path(repo.workdir), "refs/mc/x") == two
    transact(repo, [Update("refs/mc/x", one, two)])  # the parent's git still serves it
    assert rev(Path(repo.workdir), "refs/mc/x") == one
