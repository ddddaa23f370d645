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
    if repo is None:
        return {}
    from cli.output import err

    view = read_status(Store(repo))
    for why in view.corrupt.values():
        err.print(f"warning: {why}; that task is held until it is repaired", markup=False, highlight=False)
    return view.tasks


def leases(path: str, mission: str | None = None) -> list[tuple[str, Lease | str]]:
    """The tip of every task's lease chain, sorted by task; a chain that cannot be read gives
    the reason instead of a lease."""
    from cli.store_opts import open_repo
    from reconciler.gitstate.leases import lease_at
    from reconciler.gitstate.refs import lease_key
    from reconciler.vocabulary.errors import CorruptState

    repo = open_repo(path)
    out: list[tuple[str, Lease | str]] = []
    for ref in repo.references.iterator():
        key = lease_key(ref.name)
        if key is None or (mission is not None and key.mission != mission):
            continue
        try:
            out.append((key, lease_at(repo, str(ref.target))))
        except CorruptState as exc:
            out.append((key, str(exc)))
    return sorted(out, key=lambda kv: kv[0])
