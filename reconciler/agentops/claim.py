"""`claim`: take the next ready task this agent may run, by compare-and-swap on its lease chain."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from reconciler.gitstate.leases import advance, read_lease
from reconciler.gitstate.queue import QueueEntry, QueueIndex, read_queue
from reconciler.gitstate.refs import STATUS_REF, ZERO, Update, work_branch, work_ref
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import Conflict, NotFound, NothingToClaim, UsageError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import MAX_TTL, Lease, LeaseState

DEFAULT_TTL = 60.0


@dataclass(frozen=True, slots=True)
class Claimed:
    lease: Lease
    lease_commit: str
    work_ref: str
    work_commit: str

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
            "workBranch": self.work_ref,
            "workCommit": self.work_commit,
        }

    def environment(self) -> dict[str, str]:
        """The variables an agent exports to report on this lease (`mc claim -o env`)."""
        key = TaskKey(self.lease.key)
        return {
            "MC_MISSION": key.mission,
            "MC_TASK": key.name,
            "MC_AGENT_ID": self.lease.agent,
            "MC_LEASE_GENERATION": str(self.lease.generation),
            "MC_WORK_BRANCH": work_branch(key),
        }


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(sorted(known)[:10])}" if known else ""


def resolve_agent(index: QueueIndex, agent: str) -> str:
    """An agent id (`name-8hex`) or, when unambiguous, a bare agent name; NotFound if unknown."""
    known = sorted(set(index.replicas) | {a for e in index.tasks for a in e.agents})
    if agent in known or not known:
        return agent
    matches = [a for a in known if a.rsplit("-", 1)[0] == agent]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFound(f"agent name {agent!r} is ambiguous: {', '.join(matches)}; pass the agent id", agent=agent)
    names = sorted({a.rsplit("-", 1)[0] for a in known})
    raise NotFound(f"unknown agent {agent!r}{_suggest(agent, names)}", agent=agent)


def _eligible(entry: QueueEntry, agent: str, mission: str | None, now: float) -> bool:
    if mission is not None and entry.key.mission != mission:
        return False
    return agent in entry.agents and (entry.not_before is None or entry.not_before <= now)


def claim(
    store: Store,
    agent: str,
    now: float,
    *,
    mission: str | None = None,
    node: str | None = None,
    ttl: float = DEFAULT_TTL,
    replicas: int | None = None,
) -> Claimed:
    """Take the next ready task this agent may run (highest priority, then oldest) by CAS."""
    if not 1.0 <= ttl <= MAX_TTL:  # also refuses inf and nan
        raise UsageError(f"a lease lasts from 1 to {MAX_TTL:.0f} seconds, not {ttl}")
    store.sync()
    status_tip = store.read(STATUS_REF)
    if status_tip is None:
        raise NothingToClaim(
            f"no status yet in {store.where()}: the reconciler has not run a pass; "
            "start it with `mc reconciler run` (or run `mc reconcile` once)"
        )
    index = read_queue(store.repo, status_tip)
    if mission is not None and index.missions and mission not in index.missions:
        raise NotFound(f"unknown mission {mission!r}{_suggest(mission, index.missions)}", mission=mission)
    agent = resolve_agent(index, agent)
    limit = replicas if replicas is not None else index.replicas.get(agent)
    if limit is not None and index.running.get(agent, 0) >= limit:
        raise NothingToClaim(f"agent {agent} already runs {index.running[agent]} task(s) (replicas: {limit})")
    candidates = sorted(
        (e for e in index.tasks if _eligible(e, agent, mission, now)), key=lambda e: (-e.priority, e.created, e.key)
    )
    main = store.require_desired() if candidates else None
    for entry in candidates:
        tip, lease = read_lease(store, entry.key)
        if lease is not None and (lease.generation > entry.generation or lease.live(now)):
            continue  # claimed since the reconciler's last pass
        generation = max(entry.generation, lease.generation if lease else 0) + 1
        granted = Lease(entry.key, generation, agent, node, LeaseState.ACTIVE, now, now, now + ttl, ttl)
        branch = work_ref(entry.key)
        work_tip = store.read(branch)
        extra: tuple[Update, ...] = ()
        if work_tip is None:
            assert main is not None
            work_tip = main
            extra = (Update(branch, main, ZERO),)
        subject = f"lease {entry.key}: grant generation {generation} to {agent}" + (f" on {node}" if node else "")
        try:
            commit = advance(store, granted, tip, subject, also=extra, who=agent)
        except Conflict:
            continue  # another claimer won this one; try the next
        return Claimed(granted, commit, branch, work_tip)
    if not candidates:
        raise NothingToClaim(f"no task is ready for agent {agent}" + (f" in mission {mission}" if mission else ""))
    raise NothingToClaim(f"every ready task for agent {agent} was claimed by someone else")
