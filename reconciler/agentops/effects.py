"""`mc effect check` and `mc effect record`: the side-effect ledger, fenced by the lease.

The contract for agent authors (README, "Side effects exactly once"): derive one key per effect
from `MC_IDEMPOTENCY_KEY` (stable across retries of the task); `check` it; if it is recorded,
use the recorded result and do not call again; if not, call the receiver *with that key* (a
receiver that deduplicates by key, as payment APIs do with an Idempotency-Key, turns a retry
after a crash into the same effect), then `record` the key with the result. A crash between the
call and the record is safe because the receiver deduplicates; a crash before the call is safe
because nothing happened.
"""

from __future__ import annotations

from typing import Any

from reconciler.agentops.reports import fenced
from reconciler.gitstate.effects import ledger_update, read_effects
from reconciler.gitstate.leases import renew
from reconciler.gitstate.refs import Verify, lease_ref
from reconciler.gitstate.store import Store
from reconciler.vocabulary.clock import iso
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import Lease, LeaseHandle


def check_effect(store: Store, key: TaskKey, handle: LeaseHandle, now: float, effect: str) -> dict[str, Any] | None:
    """The recorded entry of `effect` (its result, generation and time), or None."""
    return fenced(store, key, handle, now, lambda _tip, _lease: read_effects(store, key)[1].get(effect))


def record_effect(
    store: Store, key: TaskKey, handle: LeaseHandle, now: float, effect: str, result: Any
) -> tuple[bool, dict[str, Any]]:
    """Record `effect` with `result` under the live lease; (recorded now, the entry). A key
    already recorded keeps its first entry: recording is idempotent too."""

    def write(tip: str, lease: Lease) -> tuple[bool, dict[str, Any]]:
        ledger_tip, entries = read_effects(store, key)
        if effect in entries:
            return False, entries[effect]
        entry = {"result": result, "generation": lease.generation, "agent": lease.agent, "at": iso(now)}
        move = ledger_update(store, key, ledger_tip, {**entries, effect: entry}, lease.agent, effect, lease.generation)
        if store.remote is None:
            store.transact([move], [Verify(lease_ref(key), tip)])
        else:  # a push cannot verify: renew the lease in the same atomic push instead
            renew(store, lease.renewed(now), tip, f"lease {key}: renew (effect {effect})", also=(move,))
        return True, entry

    return fenced(store, key, handle, now, write)
