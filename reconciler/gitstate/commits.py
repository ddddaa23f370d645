"""Writing MissionControl's own commits: objects only, no ref moves (those are `refs`' job)."""

from __future__ import annotations

from collections.abc import Sequence

import pygit2

from reconciler.vocabulary.trailers import identity


def signature(who: str) -> pygit2.Signature:
    return pygit2.Signature(*identity(who))


def write_commit(
    repo: pygit2.Repository, who: str, message: str, tree: str | pygit2.Oid, parents: Sequence[str]
) -> str:
    """Create a commit by `who` (author and committer) and return its id; no ref moves."""
    sig = signature(who)
    tree_oid = tree if isinstance(tree, pygit2.Oid) else pygit2.Oid(hex=tree)
    return str(repo.create_commit(None, sig, sig, message, tree_oid, [pygit2.Oid(hex=p) for p in parents]))


def single_file_tree(repo: pygit2.Repository, name: str, data: bytes) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    builder.insert(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    return builder.write()
