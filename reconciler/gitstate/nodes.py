"""Mesh node records, `refs/mc/nodes/<node>`: who runs agents where, and whether it is alive.

Each node writes only its own ref, by compare-and-swap (the record itself is
`vocabulary.nodes.NodeRecord`). Registering and stopping are custody
(history); a heartbeat replaces the previous heartbeat, written on the registration commit, so
an idle node keeps a history of two commits however long it runs.
"""

from __future__ import annotations

import pygit2

from reconciler.gitstate.commits import single_file_tree, write_commit
from reconciler.gitstate.refs import ZERO, Update, tree_file
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.nodes import NodeEvent, NodeRecord

NODES_PREFIX = "refs/mc/nodes/"
NODE_FILE = "node.json"


def node_ref(name: str) -> str:
    return NODES_PREFIX + name


def node_name(ref: str) -> str | None:
    """The node whose record `ref` is; None for any other ref."""
    return ref[len(NODES_PREFIX) :] if ref.startswith(NODES_PREFIX) else None


def node_at(repo: pygit2.Repository, commit_id: str) -> NodeRecord:
    try:
        commit = repo[commit_id].peel(pygit2.Commit)
        return NodeRecord.from_json(tree_file(commit.tree, NODE_FILE))
    except (KeyError, ValueError, TypeError, AttributeError, pygit2.GitError) as exc:
        raise CorruptState(f"node record {commit_id[:12]} cannot be read: {exc}") from None


def read_node(store: Store, name: str) -> tuple[str | None, NodeRecord | None]:
    tip = store.read(node_ref(name))
    return tip, (node_at(store.repo, tip) if tip else None)


def read_nodes(store: Store) -> list[tuple[str, NodeRecord | str]]:
    """Every node's latest record, by name; the reason instead, for one that cannot be read."""
    out: list[tuple[str, NodeRecord | str]] = []
    for ref in store.repo.references.iterator():
        if ref.name.startswith(NODES_PREFIX):
            name = ref.name[len(NODES_PREFIX) :]
            try:
                out.append((name, node_at(store.repo, str(ref.target))))
            except CorruptState as exc:
                out.append((name, str(exc)))
    return sorted(out, key=lambda kv: kv[0])


def write_node(store: Store, record: NodeRecord, tip: str | None) -> str:
    """Write `record` on the node's chain by CAS from `tip`: a heartbeat replaces the previous
    heartbeat (written on the last registration); a registration or a stop is history."""
    parent = tip
    if record.event is NodeEvent.HEARTBEAT and tip is not None:
        current = store.repo[tip].peel(pygit2.Commit)
        if node_at(store.repo, tip).event is NodeEvent.HEARTBEAT and current.parent_ids:
            parent = str(current.parent_ids[0])
    tree = single_file_tree(store.repo, NODE_FILE, record.to_json().encode())
    commit = write_commit(
        store.repo, f"mc-node-{record.name}", f"node {record.name}: {record.event}\n", tree, [parent] if parent else []
    )
    store.transact([Update(node_ref(record.name), commit, tip or ZERO)])
    return commit
