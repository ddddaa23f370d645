"""Where refs are compared-and-swapped: the local repository, or a shared remote.

Locally, a CAS is `git update-ref --stdin`. Through a remote, it is an atomic push in which every
ref names the value it must still have (`--force-with-lease=REF:OLD`, checked by the server
under the ref's lock), so of several contenders exactly one wins, on any Git server. The local
refs then mirror what the remote accepted.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pygit2

from reconciler.gitstate.refs import ZERO, Update, Verify, break_stale_locks, read_ref, transact
from reconciler.vocabulary.errors import Conflict, GitFailure, NotFound, Unreachable, UsageError

if TYPE_CHECKING:  # run only through a remote: a local command that only reads starts no process
    import subprocess

MIRRORED = ("+refs/mc/*:refs/mc/*", "+refs/heads/mc/work/*:refs/heads/mc/work/*")
FETCH_ATTEMPTS = 20
# Other processes working in the same clone update the same mirrored refs: wait for their ref
# locks rather than failing at once (git's default is 100 ms).
LOCK_TIMEOUT_MS = "1000"


DEFAULT_BRANCH = "main"
BRANCH_CONFIG = "mc.branch"  # `git config mc.branch NAME` chooses the desired-state branch


def desired_branch(repo: pygit2.Repository, branch: str | None) -> str:
    """The branch holding desired state: `branch` if given, else `git config mc.branch`, else main."""
    if branch:
        return branch
    try:
        configured = repo.config[BRANCH_CONFIG]
    except (KeyError, pygit2.GitError):
        configured = None
    return str(configured) if configured else DEFAULT_BRANCH


class Store:
    """Refs in the local repository. `desired_ref` is the branch holding desired state."""

    remote: str | None = None

    def __init__(self, repo: pygit2.Repository, branch: str | None = None) -> None:
        self.repo = repo
        self.branch = desired_branch(repo, branch)
        self.desired_ref = f"refs/heads/{self.branch}"  # where this clone reads desired state
        self.branch_ref = f"refs/heads/{self.branch}"  # the branch itself where it is decided (here)

    def where(self) -> str:
        return self.repo.workdir or self.repo.path

    def require_desired(self) -> str:
        """The desired-state commit; NotFound saying how to fix a missing or unborn branch."""
        tip = self.read(self.desired_ref)
        if tip is not None:
            return tip
        if self.repo.head_is_unborn:
            raise NotFound(
                f"{self.where()} has no commit yet: commit your manifests first (git add -A && git commit)",
                branch=self.branch,
            )
        head = self.repo.head.shorthand if not self.repo.head_is_detached else None
        hint = f"pass --branch {head}, or run `git config {BRANCH_CONFIG} {head}`" if head else "pass --branch NAME"
        raise NotFound(
            f"the desired-state branch {self.branch!r} does not exist in {self.where()}"
            + (f" (HEAD is on {head!r})" if head else "")
            + f": {hint}",
            branch=self.branch,
        )

    def sync(self) -> None:
        """Bring local refs up to date with the authority (nothing to do locally)."""

    def transact(self, updates: Sequence[Update], verifies: Sequence[Verify] = ()) -> None:
        transact(self.repo, updates, verifies)

    def read(self, ref: str) -> str | None:
        return read_ref(self.repo, ref)


class RemoteStore(Store):
    """Refs whose authority is a shared remote; compare-and-swap by an atomic push that names the
    value each ref must still have at the server."""

    def __init__(self, repo: pygit2.Repository, remote: str, branch: str | None = None) -> None:
        super().__init__(repo, branch)
        if remote not in repo.remotes.names():
            raise UsageError(f"no remote {remote!r} in {repo.workdir or repo.path}")
        self.remote = remote
        self.desired_ref = f"refs/remotes/{remote}/{self.branch}"

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        import subprocess

        return subprocess.run(
            ["git", "-c", f"core.filesRefLockTimeout={LOCK_TIMEOUT_MS}", "--git-dir", self.repo.path, *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def _failure(self, what: str, stderr: str) -> GitFailure:
        detail = " ".join(stderr.strip().split()) or "no output from git"
        if _unreachable(stderr):
            return Unreachable(f"cannot reach remote {self.remote} ({what}): {detail}", remote=self.remote)
        return GitFailure(f"{what} {self.remote} failed: {detail}", remote=self.remote)

    def sync(self) -> None:
        """Mirror the remote's refs. Several processes may share this clone: when a concurrent
        fetch moved or locked a mirrored ref under ours, fetch again (the mirrors are forced
        copies, so the later fetch is as good as ours)."""
        assert self.remote is not None
        spec = f"+refs/heads/{self.branch}:{self.desired_ref}"
        for attempt in range(FETCH_ATTEMPTS):
            proc = self._git(
                # --update-head-ok: a work branch may be checked out in an agent's worktree
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-write-fetch-head",
                "--update-head-ok",
                self.remote,
                spec,
                *MIRRORED,
            )
            if proc.returncode == 0:
                return
            if "lock" not in proc.stderr or attempt == FETCH_ATTEMPTS - 1:
                break
            if break_stale_locks(self.repo, proc.stderr):
                continue
            time.sleep(random.uniform(0.005, 0.05))
        raise self._failure("fetch from", proc.stderr)

    def transact(self, updates: Sequence[Update], verifies: Sequence[Verify] = ()) -> None:
        assert self.remote is not None
        for v in verifies:  # checked against the freshest fetch; the push itself cannot verify
            if (self.read(v.ref) or ZERO) != v.old:
                raise Conflict(f"{v.ref} moved (expected {v.old[:12]})")
        # Each update names the value it replaces (`--force-with-lease=REF:OLD`, empty: must not
        # exist); the server's receive-pack checks it under the ref's lock, so the push is a
        # compare-and-swap whether or not the new commit descends from the old one (a renewal
        # that replaces the previous renewal does not).
        leases = [f"--force-with-lease={u.ref}:{'' if u.old == ZERO else u.old}" for u in updates if u.old is not None]
        specs = [f"{u.new}:{u.ref}" for u in updates]
        proc = self._git("push", "--atomic", "--porcelain", "--quiet", *leases, self.remote, *specs)
        if proc.returncode != 0:
            if not _lost_race(proc.stdout):
                rejected = [line.split("\t")[-1] for line in proc.stdout.splitlines() if line.startswith("!")]
                detail = "; ".join(rejected) or (proc.stderr.strip().splitlines() or ["no output from git"])[-1]
                if _unreachable(proc.stderr):
                    raise self._failure("push to", proc.stderr)
                raise GitFailure(f"push to {self.remote} failed: {detail}", remote=self.remote)
            self.sync()
            raise Conflict(f"push to {self.remote} rejected: another writer moved {', '.join(u.ref for u in updates)}")
        # The remote accepted: that is the outcome. Mirror it locally where the local copy is
        # still at the old value; if a concurrent fetch in this clone moved or locked it, the
        # mirror is already newer or the next sync brings it (never raise: we did win).
        # the desired-state branch is mirrored to its remote-tracking ref, never to the clone's own
        # branch of that name (someone may have it checked out, with work of their own)
        mirror = [Update(self.desired_ref if u.ref == self.branch_ref else u.ref, u.new, u.old) for u in updates]
        try:
            transact(self.repo, mirror)
        except Conflict:
            for u in mirror:
                with contextlib.suppress(Conflict):
                    transact(self.repo, [u])


# `git push --porcelain` reasons that mean "someone else moved the ref first"; anything else
# (a hook, permissions, an unreachable server) is a real error, not a lost race.
# Client side: the remote's tip moved since our fetch. Server side: two pushes passed that check
# at once and the server's own ref transaction let one of them win.
_RACE_REASONS = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "already exists",
    "atomic push failed",
    "atomic transaction failed",
    "failed to update ref",
    "cannot lock ref",
    "failed to lock",
    "incorrect old value",
)


# What git says when the server cannot be reached at all (as opposed to refusing an update).
_UNREACHABLE = (
    "Could not read from remote repository",
    "unable to connect",
    "Connection refused",
    "Could not resolve host",
    "unable to access",
    "Connection timed out",
    "Connection reset",
    "does not appear to be a git repository",
    "the remote end hung up unexpectedly",
)


def _unreachable(stderr: str) -> bool:
    return any(s in stderr for s in _UNREACHABLE)


def _lost_race(porcelain: str) -> bool:
    rejected = [line for line in porcelain.splitlines() if line.startswith("!")]
    return bool(rejected) and all(any(r in line for r in _RACE_REASONS) for line in rejected)


def open_store(repo: pygit2.Repository, remote: str | None, branch: str | None = None) -> Store:
    return RemoteStore(repo, remote, branch) if remote else Store(repo, branch)
