"""`mc reconciler run`: the long-running reconciler, elected leader by a lease.

It wakes when a ref changes (watchfiles on the repository's Git directory; for a shared
remote, on a short fetch interval) and when the next deadline falls due (a lease expiry or a
retry backoff), never on a long polling interval. Only the holder of the leader lease
`refs/mc/leases/_system/reconciler` reconciles; a second instance waits and takes over when
the first stops renewing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.control.log import Log
from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.leases import advance, read_lease
from reconciler.gitstate.refs import LEADER_KEY
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import Conflict, McError
from reconciler.vocabulary.leases import Lease, LeaseState

LEADER_TTL = 15.0
MAX_SLEEP = 5.0  # also the leader renewal interval (a third of the TTL)
REMOTE_POLL = 1.0
STOP_POLL = 0.2  # how often a wait looks at the stop flag (a ref change wakes it at once)


def identity() -> str:
    return f"reconciler-{socket.gethostname()}-{os.getpid()}"


class Service:
    def __init__(
        self, store: Store, log: Log, clock: Callable[[], float] = time.time, leader_ttl: float = LEADER_TTL
    ) -> None:
        self.store = store
        self.log = log
        self.clock = clock
        self.leader_ttl = leader_ttl
        self.me = identity()
        self.reconciler = Reconciler(store, clock)
        self.leading = False

    def ensure_leader(self) -> bool:
        """Take or renew the leader lease; False while another live instance holds it."""
        now = self.clock()
        tip, lease = read_lease(self.store, LEADER_KEY)
        try:
            if lease is not None and lease.agent == self.me and lease.state is LeaseState.ACTIVE:
                advance(self.store, lease.renewed(now), tip, "leader: renew", who=self.me)
            elif lease is None or not lease.live(now):
                generation = (lease.generation if lease else 0) + 1
                grant = Lease(
                    LEADER_KEY,
                    generation,
                    self.me,
                    socket.gethostname(),
                    LeaseState.ACTIVE,
                    now,
                    now,
                    now + self.leader_ttl,
                    self.leader_ttl,
                    now,
                )
                advance(self.store, grant, tip, f"leader: {self.me} takes generation {generation}", who=self.me)
                self.log("leader.acquired", generation=generation, holder=self.me)
            else:
                if self.leading:
                    self.log("leader.lost", level="warn", holder=lease.agent)
                self.leading = False
                return False
        except Conflict:
            self.leading = False
            return False
        self.leading = True
        return True

    def resign(self) -> None:
        tip, lease = read_lease(self.store, LEADER_KEY)
        if lease is not None and lease.agent == self.me and lease.state is LeaseState.ACTIVE:
            try:
                advance(
                    self.store,
                    lease.ended(LeaseState.RELEASED, "", self.clock()),
                    tip,
                    "leader: resign",
                    who=self.me,
                )
                self.log("leader.resigned", holder=self.me)
            except Conflict:
                pass

    def pass_once(self) -> float | None:
        try:
            result = self.reconciler.run_once()
        except McError as exc:  # logged and retried: one bad pass must not stop the service
            self.log("pass.failed", level="error", error=str(exc), code=exc.code)
            return None
        if result.status_commit or result.leases_written or result.conflicts:
            self.log(
                "pass",
                level="warn" if result.gave_up else "info",
                transitions=len(result.transitions),
                status=(result.status_commit or "")[:12] or None,
                leases=result.leases_written,
                conflicts=result.conflicts,
                ms=round(result.seconds * 1000, 2),
                changes=[str(t) for t in result.transitions],
            )
        return result.wake_at

    def _watch(self, stop: threading.Event, dirty: threading.Event) -> None:
        """Set `dirty` on every ref change, for as long as the service runs.

        One long-lived watcher, not one per sleep: a commit that lands while a pass runs is
        still seen, so the next wait returns at once instead of at the next timer.
        """
        import watchfiles

        git_dir = Path(self.store.repo.path)

        def interesting(_change: watchfiles.Change, path: str) -> bool:
            rel = os.path.relpath(path, git_dir)
            return not rel.endswith(".lock") and (rel.startswith("refs") or rel in ("packed-refs", "HEAD"))

        for _ in watchfiles.watch(
            git_dir, watch_filter=interesting, stop_event=stop, debounce=5, step=5, raise_interrupt=False
        ):
            dirty.set()

    def _wait(self, stop: threading.Event, dirty: threading.Event, timeout: float) -> None:
        """Until a ref changes (remote: the next fetch), the deadline, or stop."""
        if self.store.remote is not None:  # no watcher on a remote: fetch again soon
            stop.wait(min(timeout, REMOTE_POLL))
            return
        deadline = time.monotonic() + timeout
        poll = STOP_POLL
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or dirty.wait(min(left, poll)):
                return

    def run(self, stop: threading.Event) -> None:
        """Reconcile until `stop` is set. A missing desired-state branch is refused at once."""
        self.store.sync()
        self.store.require_desired()
        self.log("start", holder=self.me, repo=self.store.repo.path, remote=self.store.remote, branch=self.store.branch)
        dirty = threading.Event()
        if self.store.remote is None:
            threading.Thread(target=self._watch, args=(stop, dirty), name="ref-watcher", daemon=True).start()
        try:
            while not stop.is_set():
                if not self.ensure_leader():
                    stop.wait(min(MAX_SLEEP, self.leader_ttl / 3))
                    continue
                dirty.clear()  # changes from here on wake the next wait
                wake = self.pass_once()
                sleep = MAX_SLEEP if wake is None else min(MAX_SLEEP, max(wake - self.clock(), 0.0))
                self._wait(stop, dirty, sleep)
        finally:
            self.resign()
            self.log("stop", holder=self.me)
