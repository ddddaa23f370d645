"""Observed state for the read commands: task status from `refs/mc/status`, and lease chains."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

if TYPE_CHECKING:
    from reconciler.vocabulary.leases import Lease
    from reconciler.vocabulary.status import TaskStatus


def _repo(path: str) -> pygit2.Repository | None:
    found = pygit2.discover_repository(str(Path(path)))
    return pygit2.Repository(found) if found else None


def has_status(path: str) -> bool:
    """Whether the reconciler has written a status here yet."""
    from reconciler.gitstate.refs import STATUS_REF, read_ref

    repo = _repo(path)
    return repo is not None and read_ref(repo, STATUS_REF) is not None


def statuses(path: str) -> dict[str, TaskStatus]:
    """Every task's status, keyed `mission/task`; empty if the reconciler never ran here."""
    from reconciler.gitstate.status import read_status
    from reconciler.gitstate.store import Store

    repo = _repo(path)
    return read_status(Store(repo)).tasks if repo is not None else {}


def leases(path: str, mission: str | None = None) -> list[tuple[str, Lease]]:
    """The tip of every task's lease chain, sorted by task."""
    from cli.store_opts import open_repo
    from reconciler.gitstate.leases import lease_at
    from reconciler.gitstate.refs import LEADER_KEY, LEASES_PREFIX

    repo = open_repo(path)
    out = []
    for name in repo.references:
        if not name.startswith(LEASES_PREFIX):
            continue
        key = name[len(LEASES_PREFIX) :]
        if key == LEADER_KEY or (mission is not None and not key.startswith(mission + "/")):
            continue
        out.append((key, lease_at(repo, str(repo.references[name].target))))
    return sorted(out)
