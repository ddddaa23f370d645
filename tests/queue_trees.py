"""Status trees holding a claim queue, built without a reconciler (`files` as `status_commit`
takes them: nested paths, None deletes, a directory left empty goes), and read back."""

from __future__ import annotations

from collections.abc import Mapping

import pygit2

from reconciler.gitstate.commits import write_commit
from reconciler.gitstate.trees import edit_tree


def apply_files(repo: pygit2.Repository, base: pygit2.Tree | None, files: Mapping[str, bytes | None]) -> pygit2.Oid:
    """`base` with `files` written."""
    return edit_tree(repo, base, {p: None if d is None else repo.create_blob(d) for p, d in files.items()})


def commit_files(repo: pygit2.Repository, parent: str | None, files: Mapping[str, bytes | None]) -> str:
    """A commit of `parent`'s tree with `files` written (objects only)."""
    base = repo[parent].peel(pygit2.Commit).tree if parent else None
    return write_commit(repo, "mc-reconciler", "status\n", apply_files(repo, base, files), [parent] if parent else [])


def tree_files(repo: pygit2.Repository, commit: str, under: str = "") -> dict[str, bytes]:
    """Every file below `under` in the commit's tree: path -> bytes."""
    out: dict[str, bytes] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for obj in tree:
            path = f"{prefix}{obj.name}"
            if isinstance(obj, pygit2.Tree):
                walk(obj, path + "/")
            else:
                out[path] = obj.peel(pygit2.Blob).data

    root = repo[commit].peel(pygit2.Commit).tree
    if not under:
        walk(root, "")
    elif under in root:
        walk(root[under].peel(pygit2.Tree), under + "/")
    return out
