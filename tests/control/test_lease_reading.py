"""The reconciler's cheap "no lease moved" signal never hides a lease change."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pygit2

from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.leases import advance, read_lease
from reconciler.gitstate.ref_tips import RACY_NS
from reconciler.gitstate.refs import lease_ref
from reconciler.gitstate.store import Store
from reconciler.vocabulary.leases import Lease, LeaseState
from tests.conftest import git

QUIET = RACY_NS / 1e9 + 0.05


def grant(store: Store, key: str, generation: int) -> None:
    tip, old = read_lease(store, key)
    now = time.time()
    lease = Lease(key, generation, "a", None, LeaseState.ACTIVE, now, now, now + 60, 60)
    if old is not None:
        lease = replace(lease, generation=old.generation + 1)
    advance(store, lease, tip, "grant")


def test_changes_are_seen_inside_and_after_the_racy_window(repo: Path) -> None:
    store = Store(pygit2.Repository(str(repo)))
    rec = Reconciler(store)
    grant(store, "m/a", 1)
    assert rec.read_leases()["m/a"].generation == 1
    grant(store, "m/a", 2)  # at once: timestamps too fresh to trust, so the refs are read
    assert rec.read_leases()["m/a"].generation == 2
    time.sleep(QUIET)
    assert rec.read_leases()["m/a"].generation == 2  # quiet: answered from the fingerprint
    grant(store, "m/a", 3)
    time.sleep(QUIET)  # even when the change is no longer fresh, its directory's mtime moved
    assert rec.read_leases()["m/a"].generation == 3
    grant(store, "other/b", 1)  # a new mission directory
    time.sleep(QUIET)
    assert set(rec.read_leases()) == {"m/a", "other/b"}


def test_packing_refs_is_seen(repo: Path) -> None:
    store = Store(pygit2.Repository(str(repo)))
    rec = Reconciler(store)
    grant(store, "m/a", 1)
    time.sleep(QUIET)
    assert rec.read_leases()["m/a"].generation == 1
    git(repo, "pack-refs", "--all")
    time.sleep(QUIET)
    grant(store, "m/a", 2)
    time.sleep(QUIET)
    assert rec.read_leases()["m/a"].generation == 2


def test_lease_refs_of_the_layout_before_sharding_are_moved(repo: Path) -> None:
    """A lease chain at `refs/mc/leases/<mission>/<task>` is read, then moved, tip unchanged,
    to its sharded name in one transaction; holders then find it where they look."""
    store = Store(pygit2.Repository(str(repo)))
    grant(store, "m/a", 1)
    grant(store, "ab/c", 1)  # a mission named like a shard directory
    for key in ("m/a", "ab/c"):
        tip = git(repo, "rev-parse", lease_ref(key)).strip()
        git(repo, "update-ref", "-d", lease_ref(key))
        git(repo, "update-ref", f"refs/mc/leases/{key}", tip)
    git(repo, "pack-refs", "--all")  # one of them packed, as gc leaves them
    tips = {key: git(repo, "rev-parse", f"refs/mc/leases/{key}").strip() for key in ("m/a", "ab/c")}
    rec = Reconciler(store)
    leases = rec.read_leases()
    assert {k: lease.generation for k, lease in leases.items()} == {"m/a": 1, "ab/c": 1}
    listed = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/mc/leases/").splitlines()
    assert sorted(listed) == sorted(f"{lease_ref(k)} {tip}" for k, tip in tips.items())
    grant(store, "m/a", 2)  # a holder's next write lands on the sharded name
    assert rec.read_leases()["m/a"].generation == 2
