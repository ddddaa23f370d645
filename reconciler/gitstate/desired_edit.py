"""Commits of one file made for a person: replacing a file on the desired-state branch (`mc
policy rollback`), and adding a new one on the current branch (`mc task create`). Their git
identity, a compare-and-swap on the branch's tip."""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.gitstate.refs import ZERO, Update
from reconciler.gitstate.store import Store
from reconciler.gitstate.trees import edit_tree
from reconciler.vocabulary.errors import UsageError


def replace_file(store: Store, path: str, data: bytes, message: str) -> str:
    """Commit `data` at `path` on top of the desired-state branch; the new commit."""
    repo = store.repo
    main = store.require_desired()
    try:
        who = repo.default_signature
    except (KeyError, pygit2.GitError):
        raise UsageError("git does not know who you are: set user.name and user.email") from None
    tip = repo[main].peel(pygit2.Commit)
    tree = edit_tree(repo, tip.tree, {path: repo.create_blob(data)})
    commit = str(repo.create_commit(None, who, who, message, tree, [tip.id]))
    store.transact([Update(store.branch_ref, commit, main)])
    return commit


def add_file(store: Store, path: str, data: bytes, message: str) -> str:
    """Write a new file in the working tree and commit it, and only it, on the branch `store`
    stands for (a compare-and-swap on its tip); other staged or unstaged changes stay as they
    were. The new commit."""
    repo = store.repo
    if repo.workdir is None:
        raise UsageError("this repository has no working tree: clone it and create the task there")
    target = Path(repo.workdir) / path
    if target.exists():
        raise UsageError(f"{path} exists already: choose another --name")
    try:
        who = repo.default_signature
    except (KeyError, pygit2.GitError):
        raise UsageError("git does not know who you are: set user.name and user.email") from None
    tip_id = store.read(store.branch_ref)
    tip = repo[tip_id].peel(pygit2.Commit) if tip_id else None
    blob = repo.create_blob(data)
    tree = edit_tree(repo, tip.tree if tip is not None else None, {path: blob})
    parents = [tip.id] if tip is not None else []
    commit = str(repo.create_commit(None, who, who, message, tree, parents))
    store.transact([Update(store.branch_ref, commit, tip_id or ZERO)])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    index = repo.index
    index.read()
    index.add(path)
    index.write()
    return commit
