"""What the commands that read or write observed state (status, leases) share: finding the
repository for a path as git does (upward from a subdirectory), opening its store, signing
what they write, and naming a task. No typer here: the agent commands' fast path uses it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.vocabulary.errors import NotFound, UsageError
from reconciler.vocabulary.keys import TaskKey, check_name

if TYPE_CHECKING:
    import pygit2

    from reconciler.gitstate.store import Store


def configure_signing(key: str | None = None) -> None:
    """Sign every commit this command writes: with the private key `key` (or MC_SIGNING_KEY); for
    an agent run by a mesh node, through its node's signing oracle (MC_SIGNING_SOCKET, with the
    lease token in MC_LEASE_TOKEN); otherwise unsigned. A key that cannot sign is a UsageError."""
    import os

    from reconciler.gitstate import signing

    option = "--signing-key" if key else signing.KEY_ENV
    key = key or os.environ.get(signing.KEY_ENV)
    if key:
        signing.configure(signing.load_signer(Path(key), option))
    elif os.environ.get(signing.SOCKET_ENV):
        path = Path(os.environ[signing.SOCKET_ENV])
        signing.configure(signing.OracleSigner(path, os.environ.get("MC_LEASE_TOKEN", "")))
    else:
        signing.configure(None)


def open_repo(path: str) -> pygit2.Repository:
    """The Git repository containing `path` (searched upward, as git does)."""
    import pygit2

    where = Path(path)
    if not where.exists():
        raise UsageError(f"{path} does not exist")
    if not where.is_dir():
        raise UsageError(f"{path} is not a directory")
    found = pygit2.discover_repository(str(where))
    if found is None:
        raise UsageError(f"{path} is not in a Git repository; `mc init {path}` creates a mission repository there")
    commondir = Path(found) / "commondir"
    if commondir.is_file():  # a linked worktree (an agent's, say): the repository it belongs to
        found = str((Path(found) / commondir.read_text(encoding="utf-8").strip()).resolve())
    return pygit2.Repository(found)


def open_store_at(repo: str, remote: str | None, branch: str | None = None) -> Store:
    from reconciler.gitstate.store import open_store

    return open_store(open_repo(repo), remote, branch)


def open_signing_store(
    repo: str, remote: str | None, branch: str | None = None, signing_key: str | None = None
) -> Store:
    """The store of a command that writes custody commits (lease, work, effects, status): what it
    writes is signed as `configure_signing` says."""
    configure_signing(signing_key)
    return open_store_at(repo, remote, branch)


def task_key(store: Store, task: str, mission: str | None) -> TaskKey:
    """`mission/task` from TASK (either form), --mission/MC_MISSION, or a unique match in the status."""
    if "/" in task or mission:
        return TaskKey.parse(task, mission)
    from reconciler.gitstate.status import read_status

    check_name("task", task)
    keys = sorted(k for k in read_status(store).tasks if TaskKey(k).name == task)
    if len(keys) == 1:
        return TaskKey(keys[0])
    if not keys:
        raise NotFound(f"no task {task!r} in the status; see `mc get tasks` (is the reconciler running?)", task=task)
    raise UsageError(f"task {task!r} is ambiguous: {', '.join(keys)}; use MISSION/TASK")
