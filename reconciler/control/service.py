"""`mc reconciler run`: the long-running reconciler, elected leader by a lease.

It wakes when a ref that holds desired or observed state changes (watchfiles on the
repository's Git directory; for a shared remote, a short fetch interval) and when the next
deadline falls due (a lease expiry or a retry backoff), never on a long polling interval.
Only the holder of the leader lease (`control.leader`) reconciles; a second instance waits and
takes over when the first stops renewing. A pass runs in a worker thread, so that SIGTERM is
served within a fraction of a second even in the middle of a long pass (the pass's writes are
fenced by the lease, which the stopping leader resigns). An unreachable remote is weathered:
logged once, retried with backoff, and its recovery logged.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.control.leader import Leader
from reconciler.control.log import Log
from reconciler.control.reconcile import PassResult, Reconciler
from reconciler.gitstate.nodes import NODES_PREFIX
from reconciler.gitstate.refs import AGENTS_PREFIX, SYSTEM_PREFIX
from reconciler.gitstate.signing import configured
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import McError, Unreachable

LEADER_TTL = 15.0
MAX_SLEEP = 5.0
REMOTE_POLL = 1.0
STOP_POLL = 0.2  # how often a wait looks at the stop flag (a ref change wakes it at once)
MAX_BACKOFF = 30.0  # the longest wait between tries while the remote is unreachable


def identity() -> str:
    return f"reconciler-{socket.gethostname()}-{os.getpid()}"


class _Health:
    """Logs an outage once when it starts and once when it ends, and the backoff between tries."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.lock = threading.Lock()
        self.failures = 0

    def failed(self, exc: McError) -> float:
        with self.lock:
            self.failures += 1
            if self.failures == 1:
                self.log("remote.unreachable", level="error", error=str(exc))
            return float(min(MAX_BACKOFF, 2 ** min(self.failures - 1, 5)))

    def ok(self) -> None:
        with self.lock:
            if self.failures:
                self.log("remote.recovered", tries=self.failures)
            self.failures = 0


class Service:
    def __init__(
        self, store: Store, log: Log, clock: Callable[[], float] = time.time, leader_ttl: float = LEADER_TTL
    ) -> None:
        self.store = store
        self.log = log
        self.clock = clock
        self.me = identity()
        self.leader = Leader(store, self.me, leader_ttl, clock, log)
        self.reconciler = Reconciler(store, clock, fence=self.leader.fence)
        self.health = _Health(log)
        self._reported: tuple[str, dict[str, str]] = ("", {})
        self._retry_at: float | None = None  # while the remote is unreachable: the next try

    @property
    def leading(self) -> bool:
        return self.leader.leading

    # -- one pass -------------------------------------------------------------------------
    def pass_once(self) -> float | None:
        """One pass, logged; when to wake next (None: at the usual interval)."""
        try:
            result = self.reconciler.run_once()
        except Unreachable as exc:
            self._retry_at = self.clock() + self.health.failed(exc)
            return self._retry_at
        except McError as exc:  # logged and retried: one bad pass must not stop the service
            self.log("pass.failed", level="error", error=str(exc), code=exc.code)
            return None
        self._retry_at = None
        self.health.ok()
        self._report(result)
        return result.wake_at

    def _report(self, result: PassResult) -> None:
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
        if (result.blocked, result.held) != self._reported:  # report a change once, not every pass
            if result.blocked:
                self.log("status.locked", level="warn", error=result.blocked)
            if result.held:
                self.log(
                    "held", level="warn", tasks=len(result.held), why=[f"{k}: {m}" for k, m in result.held.items()]
                )
            elif self._reported[1]:
                self.log("held.cleared")
            self._reported = (result.blocked, result.held)

    def _pass_in_thread(self, stop: threading.Event) -> tuple[bool, float | None]:
        """Run one pass in a worker thread; (finished, wake). A stop during the pass returns at
        once: the pass is abandoned, and its writes are fenced by the lease resigned next."""
        out: list[float | None] = []
        worker = threading.Thread(target=lambda: out.append(self.pass_once()), name="pass", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(STOP_POLL)
            if stop.is_set() and worker.is_alive():
                self.log("stop.during-pass", level="warn")
                return False, None
        return True, (out[0] if out else None)

    # -- waking up ------------------------------------------------------------------------
    def _watch(self, stop: threading.Event, dirty: threading.Event) -> None:
        """Set `dirty` on every change of a ref that holds desired or observed state.

        One long-lived watcher, not one per sleep: a commit that lands while a pass runs is
        still seen. MissionControl's own machinery (the leader lease, agents' holdings, node
        heartbeats) is ignored, so renewals never wake it: a node that lapses is noticed at the
        deadline its last heartbeat set.
        """
        import watchfiles

        git_dir = Path(self.store.repo.path)
        ignored = (SYSTEM_PREFIX, AGENTS_PREFIX, NODES_PREFIX)

        def interesting(_change: watchfiles.Change, path: str) -> bool:
            rel = os.path.relpath(path, git_dir)
            if rel.endswith(".lock") or rel.startswith(ignored):
                return False
            return rel.startswith("refs") or rel in ("packed-refs", "HEAD")

        for _ in watchfiles.watch(
            git_dir, watch_filter=interesting, stop_event=stop, debounce=5, step=5, raise_interrupt=False
        ):
            dirty.set()

    def _keep(self, stop: threading.Event, dirty: threading.Event) -> None:
        """Keep the leader lease: renew it when due, take it when free, for as long as we run."""
        while not stop.is_set():
            was = self.leader.leading
            try:
                now_leading = self.leader.step()
            except Unreachable as exc:
                stop.wait(self.health.failed(exc))
                continue
            except McError as exc:
                self.log("leader.failed", level="error", error=str(exc), code=exc.code)
                now_leading = False
            if now_leading and not was:
                dirty.set()  # a new leader reconciles at once
            stop.wait(max(min(self.leader.due(), MAX_SLEEP), STOP_POLL))

    def _wait(self, stop: threading.Event, dirty: threading.Event, timeout: float) -> None:
        """Until a ref changes (remote: the next fetch), the deadline, or stop."""
        if self.store.remote is not None:  # no watcher on a remote: fetch again soon
            timeout = min(timeout, REMOTE_POLL)
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or dirty.wait(min(left, STOP_POLL)):
                return

    def _start(self, stop: threading.Event) -> bool:
        """Reach the remote (retrying through an outage), then check the desired-state branch:
        a missing one is refused at once (NotFound)."""
        while not stop.is_set():
            try:
                self.store.sync()
            except Unreachable as exc:
                stop.wait(self.health.failed(exc))
                continue
            self.health.ok()
            self.store.require_desired()
            return True
        return False

    def run(self, stop: threading.Event) -> None:
        """Reconcile until `stop` is set."""
        if not self._start(stop):
            return
        signer = configured()
        self.log(
            "start",
            holder=self.me,
            repo=self.store.repo.path,
            remote=self.store.remote,
            branch=self.store.branch,
            signing=signer.describe if signer is not None else "none: status commits are unsigned",
        )
        dirty = threading.Event()
        threading.Thread(target=self._keep, args=(stop, dirty), name="leader", daemon=True).start()
        if self.store.remote is None:
            threading.Thread(target=self._watch, args=(stop, dirty), name="ref-watcher", daemon=True).start()
        try:
            while not stop.is_set():
                if not self.leader.leading:
                    self._wait(stop, dirty, MAX_SLEEP)
                    continue
                dirty.clear()  # changes from here on wake the next wait
                finished, wake = self._pass_in_thread(stop)
                if not finished:
                    break
                if self._retry_at is not None:  # an outage: back off in full, whatever wakes us
                    stop.wait(max(self._retry_at - self.clock(), 0.0))
                    continue
                sleep = MAX_SLEEP if wake is None else min(MAX_SLEEP, max(wake - self.clock(), 0.0))
                self._wait(stop, dirty, sleep)
        finally:
            self.leader.resign()
            self.log("stop", holder=self.me)
