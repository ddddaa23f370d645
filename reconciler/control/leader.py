"""The reconciler service's leader lease, `refs/mc/system/leader`: one leader per repository.

A keeper thread acquires the lease when it is free, renews it a third of the TTL after the last
renewal (never more often: an idle service writes one renewal per interval and nothing else),
and notices when another instance took it. Every write of a pass is fenced with it (`fence`):
a leader deposed while its pass ran writes nothing. The lease lives outside `refs/mc/leases/`,
so neither the ref watcher nor the lease walk mistakes it for task state.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from reconciler.control.log import Log
from reconciler.gitstate.fence import Fence
from reconciler.gitstate.leases import advance, custody_parent, read_lease, renew, write_lease_commit
from reconciler.gitstate.refs import LEADER_KEY, LEADER_REF, Update, Verify
from reconciler.gitstate.store import Store
from reconciler.vocabulary.clock import iso
from reconciler.vocabulary.errors import Conflict, CorruptState, McError, RefLocked
from reconciler.vocabulary.leases import Lease, LeaseState, new_secret, secret_hash


class Deposed(McError):
    """This instance is no longer the leader: the write was not made."""

    code = "deposed"


class Leader:
    def __init__(self, store: Store, me: str, ttl: float, clock: Callable[[], float], log: Log) -> None:
        self.store, self.me, self.ttl, self.clock, self.log = store, me, ttl, clock, log
        self.lock = threading.RLock()
        self.tip: str | None = None
        self.lease: Lease | None = None
        self.leading = False
        self.closed = False  # resigned: never take the lease again (the process is stopping)
        self._standby_for: str | None = None

    def due(self) -> float:
        """Seconds until the next renewal is due (or the next look, when not leading)."""
        if not self.leading or self.lease is None:
            return self.ttl / 3
        return max(self.lease.renewed_at + self.ttl / 3 - self.clock(), 0.0)

    def step(self) -> bool:
        """Renew when due, or acquire when free; whether this instance leads now."""
        with self.lock:
            if self.closed:
                return False
            if self.leading and self.lease is not None and self.tip is not None:
                return self._renew_if_due()
            return self._acquire_if_free()

    def _renew_if_due(self) -> bool:
        assert self.lease is not None
        assert self.tip is not None
        now = self.clock()
        if now < self.lease.renewed_at + self.ttl / 3:
            return True
        renewed = self.lease.renewed(now)
        try:
            self.tip = renew(self.store, renewed, self.tip, "leader: renew", who=self.me, ref=LEADER_REF)
        except RefLocked:
            return True  # another update holds the ref's lock for a moment: renew at the next step
        except Conflict:
            if self._adopt_own():
                return True
            self._lost("its lease moved under it")
            return False
        self.lease = renewed
        return True

    def _adopt_own(self) -> bool:
        """After a lost CAS: whether the lease at the tip is still this instance's own live lease
        (a push the server took although the client saw an error), which it then keeps."""
        self.store.sync()
        tip = self.store.read(LEADER_REF)
        try:
            _, lease = read_lease(self.store, LEADER_KEY, LEADER_REF)
        except CorruptState:
            return False
        if tip is None or lease is None or lease.agent != self.me or not lease.live(self.clock()):
            return False
        self.tip, self.lease = tip, lease
        return True

    def _acquire_if_free(self) -> bool:
        self.store.sync()
        now = self.clock()
        tip = self.store.read(LEADER_REF)
        try:
            _, lease = read_lease(self.store, LEADER_KEY, LEADER_REF)
        except CorruptState as exc:  # our own machinery: replace it rather than wedge every instance
            self.log("leader.corrupt", level="warn", error=str(exc))
            lease, tip_is_chain = None, False
        else:
            tip_is_chain = True
        if lease is not None and lease.live(now) and lease.agent == self.me and tip is not None:
            self.tip, self.lease, self.leading = tip, lease, True  # our own lease: keep it
            return True
        if lease is not None and lease.live(now):
            if self._standby_for != lease.agent:  # say once whom we wait for
                self._standby_for = lease.agent
                self.log("leader.standby", holder=lease.agent, until=iso(lease.expires_at))
            return False
        self._standby_for = None
        generation = (lease.generation if lease else 0) + 1
        grant = Lease(
            LEADER_KEY,
            generation,
            self.me,
            socket.gethostname(),
            LeaseState.ACTIVE,
            now,
            now,
            now + self.ttl,
            self.ttl,
            now,
            secret_sha256=secret_hash(new_secret()),
        )
        subject = f"leader: {self.me} takes generation {generation}"
        try:
            if tip_is_chain:
                new = advance(self.store, grant, tip, subject, who=self.me, ref=LEADER_REF)
            else:
                new = write_lease_commit(self.store.repo, grant, None, subject, self.me)
                self.store.transact([Update(LEADER_REF, new, tip)])
        except Conflict:
            return False
        self.tip, self.lease, self.leading = new, grant, True
        self.log("leader.acquired", generation=generation, holder=self.me)
        return True

    def _lost(self, why: str) -> None:
        if self.leading:
            self.log("leader.lost", level="warn", holder=self.me, why=why)
        self.leading, self.tip, self.lease = False, None, None

    @contextlib.contextmanager
    def fence(self) -> Iterator[Fence]:
        """Hold the lease still while one write of a pass is made, and fence that write with it:
        locally, the write verifies the leader ref; through a remote, it renews the lease in the
        same atomic push. Deposed if this instance no longer leads."""
        with self.lock:
            if self.closed or not self.leading or self.tip is None or self.lease is None:
                raise Deposed(f"{self.me} is no longer the leader; the pass writes nothing")
            if self.store.read(LEADER_REF) != self.tip:
                self._lost("its lease was taken")
                raise Deposed(f"{self.me} was deposed; the pass writes nothing")
            if self.store.remote is None:
                yield Fence(verifies=(Verify(LEADER_REF, self.tip),))
                return
            renewed = self.lease.renewed(self.clock())
            parent = custody_parent(self.store.repo, self.tip)
            new = write_lease_commit(self.store.repo, renewed, parent, "leader: renew (fences a write)", self.me)
            yield Fence(updates=(Update(LEADER_REF, new, self.tip),))
            self.tip, self.lease = new, renewed  # reached only if the fenced write succeeded

    def resign(self) -> None:
        """Give the lease up for good: this instance never takes it again."""
        with self.lock:
            self.closed = True
            if not self.leading or self.lease is None or self.tip is None:
                return
            try:
                ended = self.lease.ended(LeaseState.RELEASED, "", self.clock())
                advance(self.store, ended, self.tip, "leader: resign", who=self.me, ref=LEADER_REF)
                self.log("leader.resigned", holder=self.me)
            except McError as exc:
                self.log("leader.resign-failed", level="warn", error=str(exc))
            self.leading, self.tip, self.lease = False, None, None
