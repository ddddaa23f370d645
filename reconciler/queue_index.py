"""`queue.json` at the root of the status tree: the claimable tasks, so a claim reads one blob.

The reconciler writes it with every status commit: for each Queued task, its priority, age,
backoff, processed lease generation, spec blob and the ids of the agents allowed to take it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import pygit2

from reconciler.refs import tree_file

QUEUE_FILE = "queue.json"


@dataclass(frozen=True, slots=True)
class QueueEntry:
    key: str
    priority: int
    created: float
    not_before: float | None
    generation: int
    spec: str
    agents: tuple[str, ...]
    ttl_hint: int  # the task's timeout, so a claimer can pick a sensible lease length


def encode(entries: list[QueueEntry], running: dict[str, int]) -> bytes:
    data: dict[str, Any] = {"tasks": [asdict(e) for e in entries], "running": running}
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def read_queue(repo: pygit2.Repository, status_tip: str | None) -> tuple[list[QueueEntry], dict[str, int]]:
    if status_tip is None:
        return [], {}
    tree = repo[status_tip].peel(pygit2.Commit).tree
    if QUEUE_FILE not in tree:
        return [], {}
    data = json.loads(tree_file(tree, QUEUE_FILE))
    entries = [QueueEntry(**{**e, "agents": tuple(e["agents"])}) for e in data["tasks"]]
    return entries, dict(data["running"])
