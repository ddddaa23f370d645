"""Ref names, reading refs, and compare-and-swap updates through `git update-ref --stdin`.

pygit2 has no "update only if the old value is X" for direct refs, so every write that must
not lose a race goes through git's own ref transaction: all updates and verifications in
one call happen together or not at all. A transaction that fails because a ref was not at
its expected value (or is locked by a live writer) is a `Conflict`, worth retrying; any other
failure (a missing object, a bad ref name, a permission) is a `GitFailure` naming the cause.

A process keeps one `git update-ref --stdin` per repository for its transactions (`start`, the
updates, `prepare`, `commit`): a process that writes again and again (the reconciler service,
a mesh node, a script claiming in a loop) does not start git for each write. Git checks every
old value under the refs' locks at `prepare`, exactly as a one-off call does; a failed
transaction ends that git process (git exits with the reason), and the next one starts anew.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

import pygit2

from reconciler.vocabulary.errors import Conflict, GitFailure, RefLocked
from reconciler.vocabulary.keys import TaskKey, shard

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
    """`refs/mc/leases/<xx>/<mission>_<task>` for the key `mission/task`, where `xx` is the key's
    shard: a pass stats 256 directories to find which lease refs moved, and reads only those
    (`gitstate.ref_tips`), however many tasks hold leases."""
    mission, _, task = key.partition("/")
    return f"{LEASES_PREFIX}{shard(key)}/{mission}_{task}"


def lease_key(ref: str) -> TaskKey | None:
    """The key whose lease chain `ref` is: `refs/mc/leases/<xx>/<mission>_<task>`, or, in the
    layout before sharding, `refs/mc/leases/<mission>/<task>` (which a reconcile pass moves,
    `gitstate.leases.move_unsharded`); None for any other name."""
    if not ref.startswith(LEASES_PREFIX):
        return None
    first, _, rest = ref[len(LEASES_PREFIX) :].partition("/")
    if not rest or "/" in rest:
        return None
    if "_" in rest:
        mission, _, task = rest.partition("_")
        return TaskKey.of(mission, task) if first == shard(f"{mission}/{task}") else None
    return TaskKey.of(first, rest)


def agent_ref(agent: str) -> str:
    return AGENTS_PREFIX + agent


def work_ref(key: TaskKey) -> str:
    """The task's work branch, `refs/heads/mc/work/<mission>/<task>`."""
    return WORK_PREFIX + key


def work_branch(key: TaskKey) -> str:
    """The work branch's short name, as `git switch` and `git worktree add` take it."""
    return work_ref(key).removeprefix("refs/heads/")


# NamedTuples, not frozen dataclasses: every command that writes defines them, and a NamedTuple
# class costs a fraction of a dataclass to create (see cli/params.py).
class Update(NamedTuple):
    ref: str
    new: str
    old: str | None  # None: do not check; ZERO: must not exist


class Verify(NamedTuple):
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
    stderr = ""
    for attempt in range(2):
        said = _transaction(repo.path, lines)
        if said is None:
            return
        stderr = said
        if attempt or not break_stale_locks(repo, stderr):
            break
    reason = stderr.strip().splitlines()[0].removeprefix("fatal: ") if stderr.strip() else ""
    refs = ", ".join(u.ref for u in updates)
    locked = _LOCK_EXISTS.findall(stderr)
    if locked:
        raise RefLocked(f"{refs}: locked by another update in flight ({locked[0]})", refs=refs, lock=locked[0])
    if _LOST_RACE.search(stderr):
        raise Conflict(reason or "ref update refused", refs=refs)
    raise GitFailure(
        f"git update-ref failed for {refs}: {reason or 'git exited without saying why'}",
        refs=refs,
        stderr=stderr.strip(),
    )


class _Session:
    """One `git update-ref --stdin` of this process, for one repository."""

    OK = (b"start: ok\n", b"prepare: ok\n", b"commit: ok\n")

    def __init__(self, git_dir: str) -> None:
        # imported here: a command that only reads (`mc effect check`) starts no git
        import subprocess
        import tempfile

        self.pid = os.getpid()
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the git process
        self.proc = subprocess.Popen(
            # values are full object ids: without warnAmbiguousRefs=false, git looks for refs
            # named like each of them (refs/tags/<id>, refs/heads/<id> ...) to warn of an
            # ambiguity, a hundred lookups per transaction. logAllRefUpdates=false: a ref this
            # creates (a task's work branch, at each claim) gets no reflog file of its own (the
            # lease chain is its custody record); a ref that has a reflog (main) still logs
            [
                "git",
                "-c",
                "core.warnAmbiguousRefs=false",
                "-c",
                "core.logAllRefUpdates=false",
                "--git-dir",
                git_dir,
                "update-ref",
                "--stdin",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
        )

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.proc.poll() is None

    def run(self, lines: list[str]) -> str | None:
        """None if the transaction committed; otherwise what git said (and the session is over)."""
        if self._talk(lines):
            return None
        self.close()
        self.errors.seek(0)
        said = self.errors.read().decode("utf-8", "replace")
        self.errors.close()
        return said or f"git update-ref --stdin exited with status {self.proc.returncode}"

    def _talk(self, lines: list[str]) -> bool:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            stdin.write(("start\n" + "".join(f"{line}\n" for line in lines) + "prepare\ncommit\n").encode())
            stdin.flush()
            return all(stdout.readline() == reply for reply in self.OK)
        except OSError:  # git is gone (it exits on the first error)
            return False

    def close(self) -> None:
        """End the session: git exits when its input ends (an open transaction is aborted)."""
        import subprocess  # imported by __init__ already

        if self.pid != os.getpid():
            return  # a forked child's copy: the session belongs to the parent
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_SESSIONS: dict[str, _Session] = {}  # git dir -> session, most recently used last
_SESSIONS_LOCK = threading.Lock()
MAX_SESSIONS = 4  # repositories a process writes to at once: more are closed, least recently used first


def _transaction(git_dir: str, lines: list[str]) -> str | None:
    """Run one transaction in this process's session for `git_dir`: None, or git's error output."""
    with _SESSIONS_LOCK:  # one transaction at a time per session; they take milliseconds
        session = _SESSIONS.pop(git_dir, None)
        if session is None or not session.alive():
            session = _Session(git_dir)
        _SESSIONS[git_dir] = session
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.pop(next(iter(_SESSIONS))).close()
        said = session.run(lines)
        if said is not None:
            _SESSIONS.pop(git_dir, None)
        return said


@atexit.register
def _close_sessions() -> None:
    for session in list(_SESSIONS.values()):
        session.close()
    _SESSIONS.clear()


def cas(repo: pygit2.Repository, ref: str, new: str, old: str | None) -> None:
    """Move `ref` to `new` only if it is at `old` (None: it must not exist)."""
    transact(repo, [Update(ref, new, old or ZERO)])


def tree_file(tree: pygit2.Tree, name: str) -> bytes:
    """The bytes of the blob at `name` in `tree`; KeyError if absent or not a blob."""
    obj = tree[name]
    if not isinstance(obj, pygit2.Blob):
        raise KeyError(name)
    return obj.data
