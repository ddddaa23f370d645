"""`claim`: take the next ready task this agent may run, by compare-and-swap on its lease chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from reconciler.gitstate.holdings import Holding, holdings_update, read_holdings, still_held
from reconciler.gitstate.leases import advance, read_lease
from reconciler.gitstate.queue import QueueEntry, QueueMeta, QueueView
from reconciler.gitstate.refs import STATUS_REF, ZERO, Update, work_branch, work_ref
from reconciler.gitstate.store import Store
from reconciler.gitstate.work import StartConflict, start_commit
from reconciler.vocabulary.errors import Conflict, CorruptState, NotFound, NothingToClaim, UsageError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import MAX_TTL, Lease, LeaseState, new_secret, secret_hash
from reconciler.vocabulary.spend import SpendLimit

DEFAULT_TTL = 60.0


class Claimed(NamedTuple):  # not a frozen dataclass: `mc claim` defines it, and a NamedTuple costs less
    lease: Lease
    lease_commit: str
    work_ref: str
    work_commit: str
    secret: str  # the lease token: only the holder knows it; Git keeps its hash

    def to_dict(self) -> dict[str, Any]:
        key = TaskKey(self.lease.key)
        return {
            "task": key,
            "mission": key.mission,
            "name": key.name,
            "generation": self.lease.generation,
            "agent": self.lease.agent,
            "node": self.lease.node,
            "expiresAt": json.loads(self.lease.to_json())["expires_at"],
            "ttlSeconds": self.lease.ttl,
            "leaseCommit": self.lease_commit,
            "workBranch": self.work_ref.removeprefix("refs/heads/"),
            "workRef": self.work_ref,
            "workCommit": self.work_commit,
            "leaseToken": self.secret,
        }

    def environment(self) -> dict[str, str]:
        """The variables an agent exports to report on this lease (`mc claim -o env`)."""
        key = TaskKey(self.lease.key)
        return {
            "MC_MISSION": key.mission,
            "MC_TASK": key.name,
            "MC_AGENT_ID": self.lease.agent,
            "MC_LEASE_GENERATION": str(self.lease.generation),
            "MC_LEASE_TOKEN": self.secret,
            "MC_WORK_BRANCH": work_branch(key),
        }


def _suggest(word: str, known: list[str]) -> str:
    import difflib  # only for an unknown name: not imported by every claim

    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(sorted(known)[:10])}" if known else ""


def resolve_agent(meta: QueueMeta, agent: str) -> str:
    """An agent id (`name-8hex`) or, when unambiguous, a bare agent name; NotFound if unknown."""
    known = sorted(meta.replicas)  # every agent declared
    if agent in known or not known:
        return agent
    matches = [a for a in known if a.rsplit("-", 1)[0] == agent]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFound(f"agent name {agent!r} is ambiguous: {', '.join(matches)}; pass the agent id", agent=agent)
    names = sorted({a.rsplit("-", 1)[0] for a in known})
    raise NotFound(f"unknown agent {agent!r}{_suggest(agent, names)}", agent=agent)


def _ready(queue: QueueView, agent: str, mission: str | None, now: float) -> Iterator[QueueEntry]:
    """The agent's Queued tasks whose backoff is over, in claim order (highest priority, then
    oldest), read page by page: the queue lists under an agent only the tasks of its mission."""
    try:
        for entry in queue.entries(agent):
            if mission is not None and entry.key.mission != mission:
                return
            if entry.not_before is None or entry.not_before <= now:
                yield entry
    except CorruptState as exc:
        raise NothingToClaim(str(exc)) from None


def claim(
    store: Store,
    agent: str,
    now: float,
    *,
    mission: str | None = None,
    node: str | None = None,
    ttl: float = DEFAULT_TTL,
    replicas: int | None = None,
    vouched: bool = False,
) -> Claimed:
    """Take the next ready task this agent may run (highest priority, then oldest) by CAS.

    The grant moves the task's lease chain, creates its work branch if need be, and moves the
    agent's holdings (the replicas limit) in one transaction: all or nothing."""
    if not 1.0 <= ttl <= MAX_TTL:  # also refuses inf and nan
        raise UsageError(f"a lease lasts from 1 to {MAX_TTL:.0f} seconds, not {ttl}")
    queue = _queue_of(store)
    meta = queue.meta
    if mission is not None and meta.missions and mission not in meta.missions:
        raise NotFound(f"unknown mission {mission!r}{_suggest(mission, meta.missions)}", mission=mission)
    agent = resolve_agent(meta, agent)
    limit = replicas if replicas is not None else meta.replicas.get(agent)
    slots: _Slots | None = None
    unstartable: list[str] = []
    for entry in _ready(queue, agent, mission, now):
        if slots is None:  # there is a ready task: now the holdings matter
            main = store.require_desired()
            slots = _Slots(store, agent, limit)
            slots.check()
        if slots.took(entry):
            continue  # this agent claimed it since the queue was written: no lease to read
        for _ in range(CLAIM_ATTEMPTS):
            slots.check()
            try:
                tip, lease = read_lease(store, entry.key)
            except CorruptState:
                break  # reported by the reconciler; the other tasks are served as usual
            if lease is not None and (lease.generation > entry.generation or lease.live(now)):
                break  # claimed since the reconciler's last pass
            generation = max(entry.generation, lease.generation if lease else 0) + 1
            secret = new_secret()
            granted = Lease(
                entry.key,
                generation,
                agent,
                node,
                LeaseState.ACTIVE,
                now,
                now,
                now + ttl,
                ttl,
                secret_sha256=secret_hash(secret),
                vouched=vouched and node is not None,
                budget=meta.budgets.get(agent, SpendLimit()),
            )
            branch = work_ref(entry.key)
            work_tip = store.read(branch)
            extra = [slots.take(entry.key, generation)]
            if work_tip is None:  # the first grant: the branch starts from main and the needs' results
                try:
                    work_tip = start_commit(store, entry.key, agent, main, entry.results)
                except StartConflict as exc:
                    unstartable.append(str(exc))
                    break  # the other ready tasks are served as usual
                extra.append(Update(branch, work_tip, ZERO))
            subject = f"lease {entry.key}: grant generation {generation} to {agent}" + (f" on {node}" if node else "")
            try:
                commit = advance(store, granted, tip, subject, also=tuple(extra), who=agent)
            except Conflict:
                store.sync()
                slots.reread()  # another claim of this task, or of this agent, won: look again
                continue
            return Claimed(granted, commit, branch, work_tip, secret)
    if slots is None:
        raise NothingToClaim(f"no task is ready for agent {agent}" + (f" in mission {mission}" if mission else ""))
    if unstartable:
        raise NothingToClaim("no ready task can start: " + "; ".join(unstartable))
    raise NothingToClaim(f"every ready task for agent {agent} was claimed by someone else")


CLAIM_ATTEMPTS = 4
PRUNE_AT = 64  # without a replicas limit, ended holdings are dropped once this many are listed


def _queue_of(store: Store) -> QueueView:
    """The queue of the latest status commit (after a fetch, through a remote)."""
    store.sync()
    status_tip = store.read(STATUS_REF)
    if status_tip is None:
        raise NothingToClaim(
            f"no status yet in {store.where()}: the reconciler has not run a pass; "
            "start it with `mc reconciler run` (or run `mc reconcile` once)"
        )
    try:
        return QueueView(store.repo, status_tip)
    except CorruptState as exc:
        raise NothingToClaim(str(exc)) from None


class _Slots:
    """The agent's holdings, checked against its replicas limit before each attempt.

    An entry counts until its lease chain records the end of its generation; reading every
    held lease at each claim would cost O(held), so the entries are only checked (and the ended
    ones dropped) when their number reaches the limit: below it, the live ones are below it too.
    The holdings also tell which queued tasks this agent took since the queue was written."""

    def __init__(self, store: Store, agent: str, limit: int | None) -> None:
        self.store, self.agent, self.limit = store, agent, limit
        self.reread()

    def reread(self) -> None:
        self.tip, self.held = read_holdings(self.store, self.agent)
        self.pruned = False
        self.granted: dict[str, int] = {}
        for h in self.held:
            self.granted[h.key] = max(h.generation, self.granted.get(h.key, 0))

    def took(self, entry: QueueEntry) -> bool:
        """Whether this agent was granted a generation of `entry` after the queue's: its lease
        chain is past the queue's generation, so the claim would skip it anyway."""
        return self.granted.get(entry.key, 0) > entry.generation

    def check(self) -> None:
        if not self.pruned and len(self.held) >= (self.limit if self.limit is not None else PRUNE_AT):
            self.held, self.pruned = still_held(self.store, self.held), True
        if self.limit is not None and len(self.held) >= self.limit:
            raise NothingToClaim(
                f"agent {self.agent} already holds {len(self.held)} task(s) (replicas: {self.limit}): "
                + ", ".join(h.key for h in self.held)
            )

    def take(self, key: str, generation: int) -> Update:
        held = [*self.held, Holding(key, generation)]
        return holdings_update(self.store, self.agent, self.tip, held, f"agent {self.agent}: holds {key}")
