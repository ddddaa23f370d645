"""Editing a tree by paths: the one place MissionControl rebuilds nested trees.

`edit_tree` applies many changes at once and rewrites each directory on their way once, reusing
every sibling as it is: the cost is the directories touched, never the whole tree.
"""

from __future__ import annotations

from collections.abc import Mapping

import pygit2


def edit_tree(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: Mapping[str, pygit2.Oid | None]
) -> pygit2.Oid:
    """`tree` with each `path -> blob` of `changes` inserted or replaced (None: removed).

    A directory left empty by removals is removed with it, as Git does not store empty ones."""
    written = _edit(repo, tree, changes)
    return written if written is not None else repo.TreeBuilder().write()


def _edit(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: Mapping[str, pygit2.Oid | None]
) -> pygit2.Oid | None:
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    below: dict[str, dict[str, pygit2.Oid | None]] = {}
    for path, oid in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            below.setdefault(head, {})[rest] = oid
        elif oid is not None:
            builder.insert(head, oid, pygit2.enums.FileMode.BLOB)
        elif builder.get(head) is not None:
            builder.remove(head)
    for head, sub in below.items():
        found = tree[head] if tree is not None and head in tree else None
        new = _edit(repo, found if isinstance(found, pygit2.Tree) else None, sub)
        if new is not None:
            builder.insert(head, new, pygit2.enums.FileMode.TREE)
        elif builder.get(head) is not None:
            builder.remove(head)
    return builder.write() if len(builder) else None


def subtree_ids(repo: pygit2.Repository, root: pygit2.Oid, paths: set[str]) -> dict[str, str]:
    """The tree id at each of `paths` (directories) under `root`; a missing one is left out."""
    tree = repo[root]
    assert isinstance(tree, pygit2.Tree)
    out: dict[str, str] = {}
    for path in paths:
        try:
            found = tree[path]
        except KeyError:
            continue
        if isinstance(found, pygit2.Tree):
            out[path] = str(found.id)
    return out
