"""Options shared by the commands that read or write observed state (status, leases)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.store import Store


def remote_option() -> Any:
    return typer.Option(
        None, "--remote", envvar="MC_REMOTE", help="Coordinate through this shared Git remote (env MC_REMOTE)."
    )


def branch_option() -> Any:
    return typer.Option("main", "--branch", envvar="MC_BRANCH", help="The branch holding desired state.")


def open_store_at(repo: str, remote: str | None, branch: str = "main") -> Store:
    import pygit2

    from reconciler.store import open_store

    found = pygit2.discover_repository(str(Path(repo)))
    if found is None:
        raise UsageError(f"{repo} is not in a Git repository; run `mc init` first")
    return open_store(pygit2.Repository(found), remote, branch)


def task_key(store: Store, task: str, mission: str | None) -> str:
    """`mission/task` from TASK (either form), -m/MC_MISSION, or a unique match in the status."""
    if "/" in task:
        return task
    if mission:
        return f"{mission}/{task}"
    from reconciler.status import read_status

    keys = sorted(k for k in read_status(store).tasks if k.split("/", 1)[1] == task)
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise UsageError(f"no task {task!r} in the status; is the reconciler running?")
    raise UsageError(f"task {task!r} is ambiguous: {', '.join(keys)}; use MISSION/TASK")
