"""Observed state for the read commands: task status from `refs/mc/status`, and lease chains."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

if TYPE_CHECKING:
    from reconciler.leases import Lease
    from reconciler.status import TaskStatus


def _repo(path: str) -> pygit2.Repository | None:
    found = pygit2.discover_repository(str(Path(path)))
    return pygit2.Repository(found) if found else None


def statuses(path: str) -> dict[str, TaskStatus]:
    """Every task's status, keyed `mission/task`; empty if the reconciler never ran here."""
    from reconciler.status import read_status
    from reconciler.store import Store

    repo = _repo(path)
    return read_status(Store(repo)).tasks if repo is not None else {}


def leases(path: str, mission: str | None = None) -> list[tuple[str, Lease]]:
    """The tip of every task's lease chain, sorted by task."""
    from reconciler.leases import lease_at
    from reconciler.refs import LEADER_KEY, LEASES_PREFIX

    repo = _repo(path)
    if repo is None:
        return []
    out = []
    for name in repo.references:
        if not name.startswith(LEASES_PREFIX):
            continue
        key = name[len(LEASES_PREFIX) :]
        if key == LEADER_KEY or (mission is not None and not key.startswith(mission + "/")):
            continue
        out.append((key, lease_at(repo, str(repo.references[name].target))))
    return sorted(out)
