"""A commit on the desired-state branch that replaces one file, made for a person
(`mc policy rollback`): their git identity, a compare-and-swap on the branch's tip."""

from __future__ import annotations

import pygit2

from reconciler.gitstate.refs import Update
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import UsageError


def _replace(repo: pygit2.Repository, tree: pygit2.Tree | None, parts: list[str], blob: pygit2.Oid) -> pygit2.Oid:
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    name = parts[0]
    if len(parts) == 1:
        builder.insert(name, blob, pygit2.enums.FileMode.BLOB)
    else:
        sub = None
        if tree is not None and name in tree:
            found = tree[name]
            sub = found if isinstance(found, pygit2.Tree) else None
        builder.insert(name, _replace(repo, sub, parts[1:], blob), pygit2.enums.FileMode.TREE)
    return builder.write()


def replace_file(store: Store, path: str, data: bytes, message: str) -> str:
    """Commit `data` at `path` on top of the desired-state branch; the new commit."""
    repo = store.repo
    main = store.require_desired()
    try:
        who = repo.default_signature
    except (KeyError, pygit2.GitError):
        raise UsageError("git does not know who you are: set user.name and user.email") from None
    tip = repo[main].peel(pygit2.Commit)
    tree = _replace(repo, tip.tree, path.split("/"), repo.create_blob(data))
    commit = str(repo.create_commit(None, who, who, message, tree, [tip.id]))
    store.transact([Update(store.branch_ref, commit, main)])
    return commit
