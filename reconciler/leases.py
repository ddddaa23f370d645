"""Leases: one commit chain per task, moved only by compare-and-swap.

Each commit of `refs/mc/leases/<mission>/<task>` holds `lease.json`: who holds the task
(agent id, node), the generation (the fencing token, strictly increasing over the chain),
and the grant, renewal and expiry times. Grants, renewals, releases, results and expiries
are all commits, so `git log` on the ref is the task's custody record.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pygit2

from reconciler.clock import iso, parse_iso
from reconciler.errors import McError
from reconciler.refs import Update, Verify, lease_ref, tree_file
from reconciler.store import Store

LEASE_FILE = "lease.json"
ACTIVE = "active"


class StaleGeneration(McError):
    """A report from a lease generation that is no longer current: refused, nothing changed."""


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    generation: int
    agent: str
    node: str | None
    state: str
    granted_at: float
    renewed_at: float
    expires_at: float
    ttl: float
    started_at: float | None = None
    reason: str = ""
    outputs: dict[str, Any] | None = None
    result_commit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Random per grant. Two contenders that grant the same generation to the same agent in the
    # same millisecond would otherwise write byte-identical commits, and pushing a commit the
    # server already has "succeeds": both would believe they won.
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    def live(self, now: float) -> bool:
        return self.state == ACTIVE and now < self.expires_at

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("granted_at", "renewed_at", "expires_at", "started_at"):
            data[name] = iso(data[name])
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Lease:
        data = json.loads(text)
        for name in ("granted_at", "renewed_at", "expires_at", "started_at"):
            data[name] = parse_iso(data[name])
        return cls(**data)


_CACHE: dict[str, Lease] = {}


def lease_at(repo: pygit2.Repository, commit_id: str) -> Lease:
    """The lease recorded by one commit of a chain (cached: commits never change)."""
    lease = _CACHE.get(commit_id)
    if lease is None:
        commit = repo[commit_id].peel(pygit2.Commit)
        lease = Lease.from_json(tree_file(commit.tree, LEASE_FILE))
        if len(_CACHE) > 100_000:
            _CACHE.clear()
        _CACHE[commit_id] = lease
    return lease


def read_lease(store: Store, key: str) -> tuple[str | None, Lease | None]:
    tip = store.read(lease_ref(key))
    return tip, (lease_at(store.repo, tip) if tip else None)


def _signature(lease: Lease) -> pygit2.Signature:
    who = (
        lease.agent if lease.state == ACTIVE or lease.state in ("released", "completed", "failed") else "mc-reconciler"
    )
    return pygit2.Signature(who, f"{who}@missioncontrol.invalid")


def write_commit(
    repo: pygit2.Repository, lease: Lease, parent: str | None, message: str, who: str | None = None
) -> str:
    """Create the next commit of a lease chain (objects only; no ref moves)."""
    blob = repo.create_blob(lease.to_json().encode())
    builder = repo.TreeBuilder()
    builder.insert(LEASE_FILE, blob, pygit2.enums.FileMode.BLOB)
    sig = pygit2.Signature(who, f"{who}@missioncontrol.invalid") if who else _signature(lease)
    parents = [pygit2.Oid(hex=parent)] if parent else []
    trailers = f"\n\nMC-Task: {lease.key}\nMC-Generation: {lease.generation}\nMC-Lease-State: {lease.state}\n"
    return str(repo.create_commit(None, sig, sig, message + trailers, builder.write(), parents))


def advance(
    store: Store,
    lease: Lease,
    parent: str | None,
    message: str,
    *,
    also: tuple[Update, ...] = (),
    verifies: tuple[Verify, ...] = (),
    who: str | None = None,
) -> str:
    """Append `lease` to its chain if the chain is still at `parent`; raise CasConflict otherwise."""
    new = write_commit(store.repo, lease, parent, message, who)
    store.transact([Update(lease_ref(lease.key), new, parent or "0" * 40), *also], verifies)
    return new


def current(store: Store, key: str, generation: int, now: float) -> tuple[str, Lease]:
    """The live lease of `key` if it is at `generation`; StaleGeneration (with why) otherwise."""
    tip, lease = read_lease(store, key)
    if tip is None or lease is None:
        raise StaleGeneration(f"{key} has no lease; claim it first")
    if lease.generation != generation:
        raise StaleGeneration(
            f"stale generation {generation} for {key}: the lease is at generation {lease.generation}, "
            f"held by {lease.agent} ({lease.state}); this report changes nothing"
        )
    if lease.state != ACTIVE:
        raise StaleGeneration(
            f"lease generation {generation} of {key} has ended ({lease.state}); this report changes nothing"
        )
    if now >= lease.expires_at:
        raise StaleGeneration(
            f"lease generation {generation} of {key} expired at {iso(lease.expires_at)}; this report changes nothing"
        )
    return tip, lease


def renewed(lease: Lease, now: float, *, started: bool = True) -> Lease:
    return replace(
        lease,
        renewed_at=now,
        expires_at=now + lease.ttl,
        started_at=lease.started_at if lease.started_at is not None or not started else now,
    )
