"""Writing MissionControl's own commits: objects only, no ref moves (those are `refs`' job).

Every commit is signed by the process's configured signer (`gitstate.signing`: the node's or
the reconciler's key, or an agent's node oracle), and unsigned when none is configured."""

from __future__ import annotations

from collections.abc import Sequence

import pygit2

from reconciler.gitstate.signing import configured
from reconciler.vocabulary.trailers import identity


def signature(who: str) -> pygit2.Signature:
    return pygit2.Signature(*identity(who))


def write_commit(
    repo: pygit2.Repository, who: str, message: str, tree: str | pygit2.Oid, parents: Sequence[str]
) -> str:
    """Create a commit by `who` (author and committer), signed if a signer is configured, and
    return its id; no ref moves."""
    sig = signature(who)
    tree_oid = tree if isinstance(tree, pygit2.Oid) else pygit2.Oid(hex=tree)
    parent_oids: list[str | pygit2.Oid] = [pygit2.Oid(hex=p) for p in parents]
    signer = configured()
    if signer is None:
        return str(repo.create_commit(None, sig, sig, message, tree_oid, parent_oids))
    content = str(repo.create_commit_string(sig, sig, message, tree_oid, parent_oids))  # typed Oid, is str
    return str(repo.create_commit_with_signature(content, signer.sign(content.encode("utf-8"))))


def single_file_tree(repo: pygit2.Repository, name: str, data: bytes) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    builder.insert(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    return builder.write()
