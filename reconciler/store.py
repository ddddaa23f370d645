"""Where refs are compared-and-swapped: the local repository, or a shared remote.

Locally, a CAS is `git update-ref --stdin`. Through a remote, it is a push of the next commit
of a chain, without force: the server accepts it only as a fast-forward of its current tip,
so of several contenders exactly one wins, on any Git server. The local refs then mirror
what the remote accepted.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from collections.abc import Sequence

import pygit2

from reconciler.errors import McError, UsageError
from reconciler.refs import ZERO, CasConflict, Update, Verify, break_stale_locks, read_ref, transact

MIRRORED = ("+refs/mc/*:refs/mc/*", "+refs/heads/mc/work/*:refs/heads/mc/work/*")
FETCH_ATTEMPTS = 20
# Other processes working in the same clone update the same mirrored refs: wait for their ref
# locks rather than failing at once (git's default is 100 ms).
LOCK_TIMEOUT_MS = "1000"


class Store:
    """Refs in the local repository. `desired_ref` is the branch holding desired state."""

    remote: str | None = None

    def __init__(self, repo: pygit2.Repository, branch: str = "main") -> None:
        self.repo = repo
        self.desired_ref = f"refs/heads/{branch}"

    def sync(self) -> None:
        """Bring local refs up to date with the authority (nothing to do locally)."""

    def transact(self, updates: Sequence[Update], verifies: Sequence[Verify] = ()) -> None:
        transact(self.repo, updates, verifies)

    def read(self, ref: str) -> str | None:
        return read_ref(self.repo, ref)


class RemoteStore(Store):
    """Refs whose authority is a shared remote; compare-and-swap by fast-forward-only push."""

    def __init__(self, repo: pygit2.Repository, remote: str, branch: str = "main") -> None:
        super().__init__(repo, branch)
        if remote not in repo.remotes.names():
            raise UsageError(f"no remote {remote!r} in {repo.workdir or repo.path}")
        self.remote = remote
        self.desired_ref = f"refs/remotes/{remote}/{branch}"
        self._branch = branch

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-c", f"core.filesRefLockTimeout={LOCK_TIMEOUT_MS}", "--git-dir", self.repo.path, *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def sync(self) -> None:
        """Mirror the remote's refs. Several processes may share this clone: when a concurrent
        fetch moved or locked a mirrored ref under ours, fetch again (the mirrors are forced
        copies, so the later fetch is as good as ours)."""
        assert self.remote is not None
        spec = f"+refs/heads/{self._branch}:{self.desired_ref}"
        for attempt in range(FETCH_ATTEMPTS):
            proc = self._git(
                "fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", self.remote, spec, *MIRRORED
            )
            if proc.returncode == 0:
                return
            if "lock" not in proc.stderr or attempt == FETCH_ATTEMPTS - 1:
                break
            if break_stale_locks(self.repo, proc.stderr):
                continue
            time.sleep(random.uniform(0.005, 0.05))
        raise McError(f"fetch from {self.remote} failed: {proc.stderr.strip()}")

    def transact(self, updates: Sequence[Update], verifies: Sequence[Verify] = ()) -> None:
        assert self.remote is not None
        for v in verifies:  # checked against the freshest fetch; the push itself cannot verify
            if (self.read(v.ref) or ZERO) != v.old:
                raise CasConflict(f"{v.ref} moved (expected {v.old[:12]})")
        specs = [f"{u.new}:{u.ref}" for u in updates]
        proc = self._git("push", "--atomic", "--porcelain", "--quiet", self.remote, *specs)
        if proc.returncode != 0:
            if not _lost_race(proc.stdout):
                rejected = [line.split("\t")[-1] for line in proc.stdout.splitlines() if line.startswith("!")]
                detail = "; ".join(rejected) or (proc.stderr.strip().splitlines() or ["no output from git"])[-1]
                raise McError(f"push to {self.remote} failed: {detail}")
            self.sync()
            raise CasConflict(
                f"push to {self.remote} rejected: another writer moved {', '.join(u.ref for u in updates)}"
            )
        # The remote accepted: that is the outcome. Mirror it locally where the local copy is
        # still at the old value; if a concurrent fetch in this clone moved or locked it, the
        # mirror is already newer or the next sync brings it (never raise: we did win).
        mirror = [Update(u.ref, u.new, u.old) for u in updates]
        try:
            transact(self.repo, mirror)
        except CasConflict:
            for u in mirror:
                with contextlib.suppress(CasConflict):
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


def _lost_race(porcelain: str) -> bool:
    rejected = [line for line in porcelain.splitlines() if line.startswith("!")]
    return bool(rejected) and all(any(r in line for r in _RACE_REASONS) for line in rejected)


def open_store(repo: pygit2.Repository, remote: str | None, branch: str = "main") -> Store:
    return RemoteStore(repo, remote, branch) if remote else Store(repo, branch)
