"""Where one task's status lives in the status tree of `refs/mc/status`:
`<mission>/<xx>/<task>.json`, `xx` the task name's shard (`vocabulary.keys.shard`; see
`gitstate.status`).

Apart from the status chain's reader and writer so that a command that reads one task's status
(an agent's report on an unknown task, a result reading its task's spec blob) imports neither
them nor the claim queue and the status vocabulary they use."""

from __future__ import annotations

import pygit2

from reconciler.vocabulary.keys import TaskKey, shard


def status_path(key: str) -> str:
    """Where a task's status lives in the status tree: `git show refs/mc/status:<path>`."""
    k = TaskKey(key)
    return f"{k.mission}/{shard(k.name)}/{k.name}.json"


def task_status_data(tree: pygit2.Tree, key: str) -> bytes | None:
    """One task's status file in a status tree (sharded, or where a chain written before
    sharding keeps it); None if it has none."""
    k = TaskKey(key)
    for path in (status_path(key), f"{k.mission}/{k.name}.json"):
        try:
            found = tree[path]
        except KeyError:
            continue
        if isinstance(found, pygit2.Blob):
            return found.data
    return None
