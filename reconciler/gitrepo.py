"""Find the mission repository for a path and open a revision of it."""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.errors import UsageError
from reconciler.loader import DirSource, GitSource, Source


def discover(path: Path) -> tuple[pygit2.Repository | None, str]:
    """The Git repository containing `path`, and `path` relative to its work tree ('' at the root)."""
    found = pygit2.discover_repository(str(path))
    if found is None:
        return None, ""
    repo = pygit2.Repository(found)
    if repo.workdir is None:
        return repo, ""
    rel = path.resolve().relative_to(Path(repo.workdir).resolve())
    return repo, "" if str(rel) == "." else rel.as_posix()


def tree_at(repo: pygit2.Repository, rev: str, prefix: str = "") -> pygit2.Tree:
    """The tree of `rev` (any revision syntax), narrowed to `prefix`."""
    try:
        tree = repo.revparse_single(rev).peel(pygit2.Tree)
    except (KeyError, ValueError, pygit2.GitError):
        raise UsageError(f"unknown revision {rev!r} in {repo.workdir or repo.path}") from None
    if prefix:
        try:
            sub = tree[prefix]
        except KeyError:
            raise UsageError(f"{prefix!r} does not exist at {rev}") from None
        if sub.type != pygit2.enums.ObjectType.TREE:
            raise UsageError(f"{prefix!r} is not a directory at {rev}")
        return sub  # type: ignore[return-value]
    return tree


def open_source(path: Path, rev: str | None) -> Source:
    """Manifests at `path`: its working tree, or, with `rev`, that revision of its repository."""
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    if rev is None:
        return DirSource(path)
    repo, prefix = discover(path)
    if repo is None:
        raise UsageError(f"--rev needs a Git repository, and {path} is not in one")
    return GitSource(repo, tree_at(repo, rev, prefix))
