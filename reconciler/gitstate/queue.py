"""`queue.json` at the root of the status tree: the claimable tasks, so a claim reads one blob.

The reconciler writes it with every status commit: for each Queued task, its priority, age,
backoff, processed lease generation, spec blob and the ids of the agents allowed to take it;
for each agent, how many tasks it holds, its `replicas` limit (as of that pass: the keys of
`replicas` are every agent declared) and its per-run budget, which a grant copies into the
lease; and every mission declared. So a claim can tell a typo
in an agent or mission name from a queue that is merely empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pygit2

from reconciler.gitstate.refs import tree_file
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.spend import SpendLimit

QUEUE_FILE = "queue.json"


@dataclass(frozen=True, slots=True)
class QueueEntry:
    key: TaskKey
    priority: int
    created: float
    not_before: float | None
    generation: int
    spec: str
    agents: tuple[str, ...]
    ttl_hint: int  # the task's timeout, so a claimer can pick a sensible lease length
    results: tuple[str, ...] = ()  # the result commits of the tasks it needs: where its work starts


@dataclass(slots=True)
class QueueIndex:
    """The claimable tasks, how many tasks each agent holds, and how many it may hold."""

    tasks: list[QueueEntry] = field(default_factory=list)
    running: dict[str, int] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    missions: list[str] = field(default_factory=list)  # every mission declared, to tell a typo from an idle one
    budgets: dict[str, SpendLimit] = field(default_factory=dict)  # agent id -> per-run budget (when it has one)

    def encode(self) -> bytes:
        """Compact JSON: it is rewritten with every status commit, for every Queued task."""
        tasks = [
            {
                "key": e.key,
                "priority": e.priority,
                "created": e.created,
                "not_before": e.not_before,
                "generation": e.generation,
                "spec": e.spec,
                "agents": e.agents,
                "ttl_hint": e.ttl_hint,
                **({"results": e.results} if e.results else {}),
            }
            for e in self.tasks
        ]
        data: dict[str, Any] = {
            "tasks": tasks,
            "running": self.running,
            "replicas": self.replicas,
            "missions": self.missions,
            "budgets": {agent: limit.to_dict() for agent, limit in self.budgets.items()},
        }
        return (json.dumps(data, separators=(",", ":")) + "\n").encode()


def read_queue(repo: pygit2.Repository, status_tip: str | None) -> QueueIndex:
    """The queue of the status commit `status_tip`; CorruptState if it cannot be read (the
    reconciler rewrites it at its next pass)."""
    if status_tip is None:
        return QueueIndex()
    try:
        tree = repo[status_tip].peel(pygit2.Commit).tree
        data = json.loads(tree_file(tree, QUEUE_FILE))
        entries = [
            QueueEntry(
                **{**e, "key": TaskKey(e["key"]), "agents": tuple(e["agents"]), "results": tuple(e.get("results", ()))}
            )
            for e in data["tasks"]
        ]
        return QueueIndex(
            entries,
            dict(data["running"]),
            dict(data.get("replicas", {})),
            list(data.get("missions", [])),
            {agent: SpendLimit.from_dict(limit) for agent, limit in data.get("budgets", {}).items()},
        )
    except (KeyError, ValueError, TypeError, AttributeError, pygit2.GitError) as exc:
        raise CorruptState(
            f"{QUEUE_FILE} of status commit {status_tip[:12]} cannot be read ({exc}); "
            "the reconciler rewrites it at its next pass"
        ) from None
