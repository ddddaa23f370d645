"""Ref names, reading refs, and compare-and-swap updates through `git update-ref --stdin`.

pygit2 has no "update only if the old value is X" for direct refs, so every write that must
not lose a race goes through git's own ref transaction: all updates and verifications in
one call happen together or not at all. A transaction that fails because a ref was not at
its expected value (or is locked by a live writer) is a `Conflict`, worth retrying; any other
failure (a missing object, a bad ref name, a permission) is a `GitFailure` naming the cause.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pygit2

from reconciler.vocabulary.errors import Conflict, GitFailure, RefLocked
from reconciler.vocabulary.keys import TaskKey

ZERO = "0" * 40
STATUS_REF = "refs/mc/status"
LEASES_PREFIX = "refs/mc/leases/"
WORK_PREFIX = "refs/heads/mc/work/"
AGENTS_PREFIX = "refs/mc/agents/"  # per agent: the leases it holds, for the replicas limit
SYSTEM_PREFIX = "refs/mc/system/"  # MissionControl's own machinery, never task state
LEADER_REF = SYSTEM_PREFIX + "leader"  # the reconciler service's leader lease
LEADER_KEY = "_system/leader"  # the key its lease.json records (not a task key: not a DNS label)
STALE_LOCK_SECONDS = 30.0


def lease_ref(key: str) -> str:
    """`refs/mc/leases/<mission>/<task>` for the key `mission/task`."""
    return LEASES_PREFIX + key


def agent_ref(agent: str) -> str:
    return AGENTS_PREFIX + agent


def work_ref(key: TaskKey) -> str:
    """The task's work branch, `refs/heads/mc/work/<mission>/<task>`."""
    return WORK_PREFIX + key


def work_branch(key: TaskKey) -> str:
    """The work branch's short name, as `git switch` and `git worktree add` take it."""
    return work_ref(key).removeprefix("refs/heads/")


@dataclass(frozen=True, slots=True)
class Update:
    ref: str
    new: str
    old: str | None  # None: do not check; ZERO: must not exist


@dataclass(frozen=True, slots=True)
class Verify:
    ref: str
    old: str  # ZERO: must not exist


def read_ref(repo: pygit2.Repository, name: str) -> str | None:
    """The object id a direct ref points at, or None."""
    try:
        ref = repo.references[name]
    except (KeyError, pygit2.InvalidSpecError):
        return None
    return str(ref.target)


_LOCK_EXISTS = re.compile(r"Unable to create '([^']+\.lock)': File exists")
# What `git update-ref` says when a compare-and-swap loses (the ref moved, appeared or vanished).
# A lock held by a live process is a conflict too, reported as such. Anything else is a fault.
_LOST_RACE = re.compile(r"is at [0-9a-f]+ but expected|reference already exists|unable to resolve reference")


def break_stale_locks(repo: pygit2.Repository, stderr: str) -> bool:
    """Remove the ref lock files named in git's `stderr` that a killed process left behind.

    Git holds a ref's lock for the milliseconds of one update and cleans it up on exit, but a
    process killed with SIGKILL (or a machine that lost power) leaves `<ref>.lock` behind, and
    then every later update of that ref fails: a lease could never be renewed or expired
    again, and the reconcile pass that must expire it would never commit. A lock older than
    STALE_LOCK_SECONDS is taken to be such a leftover (no live update holds one that long).
    True if a lock was removed (worth retrying).
    """
    root = os.path.realpath(repo.path)
    broken = False
    for path in _LOCK_EXISTS.findall(stderr):
        real = os.path.realpath(path)
        if not real.startswith(root + os.sep):
            continue
        try:
            if time.time() - os.stat(real).st_mtime > STALE_LOCK_SECONDS:
                os.unlink(real)
                broken = True
        except OSError:
            continue
    return broken


def transact(repo: pygit2.Repository, updates: Sequence[Update], verifies: Sequence[Verify] = ()) -> None:
    """Apply every update atomically if every old value (and verify) holds.

    Raises Conflict when a compare-and-swap lost, GitFailure for any other failure.
    """
    lines = [f"verify {v.ref} {v.old}" for v in verifies]
    for u in updates:
        lines.append(f"update {u.ref} {u.new}" + (f" {u.old}" if u.old is not None else ""))
    for attempt in range(2):
        proc = subprocess.run(
            ["git", "--git-dir", repo.path, "update-ref", "--stdin"],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return
        if attempt or not break_stale_locks(repo, proc.stderr):
            break
    reason = proc.stderr.strip().splitlines()[0].removeprefix("fatal: ") if proc.stderr.strip() else ""
    refs = ", ".join(u.ref for u in updates)
    locked = _LOCK_EXISTS.findall(proc.stderr)
    if locked:
        raise RefLocked(f"{refs}: locked by another update in flight ({locked[0]})", refs=refs, lock=locked[0])
    if _LOST_RACE.search(proc.stderr):
        raise Conflict(reason or "ref update refused", refs=refs)
    raise GitFailure(
        f"git update-ref failed for {refs}: {reason or f'exit status {proc.returncode}'}",
        refs=refs,
        stderr=proc.stderr.strip(),
    )


def cas(repo: pygit2.Repository, ref: str, new: str, old: str | None) -> None:
    """Move `ref` to `new` only if it is at `old` (None: it must not exist)."""
    transact(repo, [Update(ref, new, old or ZERO)])


def tree_file(tree: pygit2.Tree, name: str) -> bytes:
    """The bytes of the blob at `name` in `tree`; KeyError if absent or not a blob."""
    obj = tree[name]
    if not isinstance(obj, pygit2.Blob):
        raise KeyError(name)
    return obj.data
