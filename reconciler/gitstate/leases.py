"""Lease chains: one commit chain per task, `refs/mc/leases/<xx>/<mission>_<task>` (`refs.lease_ref`),
moved only by compare-and-swap.

Each commit holds `lease.json` (a `vocabulary.leases.Lease`): holder (agent id, node), the
generation (the fencing token, strictly increasing over the chain), and the grant, renewal
and expiry times. Grants, renewals, releases, results and expiries are all commits, so
`git log` on the ref is the task's custody record.
"""

from __future__ import annotations

import pygit2

from reconciler.gitstate.commits import single_file_tree, write_commit
from reconciler.gitstate.refs import ZERO, Update, Verify, lease_ref, tree_file
from reconciler.gitstate.store import Store
from reconciler.vocabulary.clock import iso
from reconciler.vocabulary.errors import CorruptState, NotFound, NotHolder, StaleGeneration
from reconciler.vocabulary.leases import HOLDER_ENDED, Lease, LeaseState
from reconciler.vocabulary.trailers import RECONCILER, Trailer, compose

LEASE_FILE = "lease.json"

_CACHE: dict[str, Lease] = {}


def lease_at(repo: pygit2.Repository, commit_id: str) -> Lease:
    """The lease recorded by one commit of a chain (cached: commits never change).

    CorruptState if the object is not a commit holding a valid `lease.json`: a hand-edited or
    damaged ref must be reported, never crash whoever reads it."""
    lease = _CACHE.get(commit_id)
    if lease is None:
        lease = _parse(repo, commit_id)
        if len(_CACHE) > 100_000:
            _CACHE.clear()
        _CACHE[commit_id] = lease
    return lease


def _parse(repo: pygit2.Repository, commit_id: str) -> Lease:
    try:
        obj = repo[commit_id]
    except (KeyError, ValueError):
        raise CorruptState(f"lease object {commit_id[:12]} is missing from the repository") from None
    if not isinstance(obj, pygit2.Commit):
        raise CorruptState(f"lease ref points at a {obj.type_str}, not a commit ({commit_id[:12]})")
    try:
        data = tree_file(obj.tree, LEASE_FILE)
    except KeyError:
        raise CorruptState(f"lease commit {commit_id[:12]} has no {LEASE_FILE}") from None
    try:
        return Lease.from_json(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CorruptState(f"{LEASE_FILE} of lease commit {commit_id[:12]} is not a lease: {exc}") from None


def read_lease(store: Store, key: str, ref: str | None = None) -> tuple[str | None, Lease | None]:
    """The tip of `key`'s lease chain (or of the chain at `ref`) and the lease it records
    (CorruptState if unreadable)."""
    tip = store.read(ref or lease_ref(key))
    return tip, (lease_at(store.repo, tip) if tip else None)


def move_unsharded(key: str, name: str, tip: str) -> tuple[Update, Update]:
    """The updates that move a lease chain from `name`, where the layout before sharding keeps it
    (`refs/mc/leases/<mission>/<task>`), to `lease_ref(key)`: both in one transaction, by CAS."""
    return Update(lease_ref(key), tip, ZERO), Update(name, ZERO, tip)


def _author(lease: Lease) -> str:
    """The holder writes its own grant, renewals and end; the reconciler expires and revokes."""
    return lease.agent if lease.state is LeaseState.ACTIVE or lease.state in HOLDER_ENDED else RECONCILER


def write_lease_commit(
    repo: pygit2.Repository, lease: Lease, parent: str | None, subject: str, who: str | None = None
) -> str:
    """Create the next commit of a lease chain (objects only; no ref moves)."""
    tree = single_file_tree(repo, LEASE_FILE, lease.to_json().encode())
    message = compose(
        subject,
        {Trailer.TASK: lease.key, Trailer.GENERATION: lease.generation, Trailer.LEASE_STATE: lease.state},
    )
    return write_commit(repo, who or _author(lease), message, tree, [parent] if parent else [])


def advance(
    store: Store,
    lease: Lease,
    parent: str | None,
    subject: str,
    *,
    also: tuple[Update, ...] = (),
    verifies: tuple[Verify, ...] = (),
    who: str | None = None,
    ref: str | None = None,
) -> str:
    """Append `lease` to its chain (the task's, or the one at `ref`) if the chain is still at
    `parent`, together with `also` and `verifies`; raise Conflict otherwise."""
    new = write_lease_commit(store.repo, lease, parent, subject, who)
    store.transact([Update(ref or lease_ref(lease.key), new, parent or ZERO), *also], verifies)
    return new


def custody_parent(repo: pygit2.Repository, tip: str) -> str:
    """The commit a renewal of the lease at `tip` is written on: `tip` itself if it records
    custody (a grant), its parent if `tip` is a renewal of that same grant."""
    commit = repo[tip].peel(pygit2.Commit)
    lease = lease_at(repo, tip)
    if lease.state is LeaseState.ACTIVE and commit.parent_ids:
        parent = str(commit.parent_ids[0])
        before = lease_at(repo, parent)
        if before.state is LeaseState.ACTIVE and before.generation == lease.generation:
            return parent
    return tip


def renew(
    store: Store,
    renewed: Lease,
    tip: str,
    subject: str,
    *,
    also: tuple[Update, ...] = (),
    who: str | None = None,
    ref: str | None = None,
) -> str:
    """Replace the lease's last renewal with `renewed`, by CAS on `tip`.

    A renewal is not custody: it is written on the last custody commit (the grant) and replaces
    the previous renewal, so a lease renewed every few seconds for days keeps a chain of two
    commits, grant and latest renewal, instead of growing by one commit per renewal."""
    new = write_lease_commit(store.repo, renewed, custody_parent(store.repo, tip), subject, who)
    store.transact([Update(ref or lease_ref(renewed.key), new, tip), *also])
    return new


def _expiry(store: Store, lease: Lease) -> float:
    """The lease's expiry, extended by its node's heartbeat when the node vouches for it."""
    if not lease.vouched or lease.node is None:
        return lease.expires_at
    from reconciler.gitstate.nodes import read_node  # only a mesh node's agents hold vouched leases
    from reconciler.vocabulary.nodes import lease_expiry

    try:
        _, node = read_node(store, lease.node)
    except CorruptState:
        return lease.expires_at
    return lease_expiry(lease, {lease.node: node} if node is not None else {})


def current(
    store: Store, key: str, generation: int, now: float, secret: str, agent: str | None = None
) -> tuple[str, Lease]:
    """The live lease of `key` if it is at `generation` and `secret` (and `agent`, if given) are
    its holder's; NotFound, StaleGeneration or NotHolder (each saying why) otherwise."""
    tip, lease = read_lease(store, key)
    if tip is None or lease is None:
        raise NotFound(f"{key} has no lease: claim it first (mc claim)", task=key)
    if generation > lease.generation:
        raise StaleGeneration(
            f"generation {generation} of {key} was never granted: the lease is at generation {lease.generation}; "
            "this report changes nothing",
            task=key,
            generation=generation,
            current=lease.generation,
        )
    if lease.generation != generation:
        raise StaleGeneration(
            f"stale generation {generation} for {key}: the lease is at generation {lease.generation}, "
            f"held by {lease.agent} ({lease.state}); this report changes nothing",
            task=key,
            generation=generation,
            current=lease.generation,
        )
    if lease.state is not LeaseState.ACTIVE:
        raise StaleGeneration(
            f"lease generation {generation} of {key} has ended ({lease.state}); this report changes nothing",
            task=key,
            generation=generation,
            state=str(lease.state),
        )
    expires = _expiry(store, lease)  # reads the node record once, for a vouched lease
    if now >= expires:
        raise StaleGeneration(
            f"lease generation {generation} of {key} expired at {iso(expires)}; this report changes nothing",
            task=key,
            generation=generation,
        )
    if agent is not None and agent != lease.agent:
        raise NotHolder(
            f"lease generation {generation} of {key} is held by {lease.agent}, not {agent}; "
            "only the holder may report on it, and this report changes nothing",
            task=key,
            holder=lease.agent,
        )
    if not lease.opened_by(secret):
        raise NotHolder(
            f"the lease token does not match lease generation {generation} of {key} (held by {lease.agent}); "
            "only the holder may report on it, with the token its claim returned (MC_LEASE_TOKEN); "
            "this report changes nothing",
            task=key,
            holder=lease.agent,
        )
    return tip, lease
