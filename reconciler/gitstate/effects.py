"""The side-effect ledger, `refs/mc/effects/<mission>/<task>`: the idempotency keys of the side
effects a task's attempts have carried out, with their results.

It records intent's outcome where every retry of the task sees it: an attempt that finds its
key recorded skips the call; one that does not calls the receiver with the same key, and the
receiver deduplicates by it (the contract payment APIs use). The ledger alone cannot make an
arbitrary effect exactly-once: a crash can fall between the effect and its record.
"""

from __future__ import annotations

import json
from typing import Any

import pygit2

from reconciler.gitstate.commits import single_file_tree, write_commit
from reconciler.gitstate.refs import ZERO, Update, tree_file
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.trailers import Trailer, compose

EFFECTS_PREFIX = "refs/mc/effects/"
EFFECTS_FILE = "effects.json"


def effects_ref(key: str) -> str:
    return EFFECTS_PREFIX + key


def read_effects(store: Store, key: str) -> tuple[str | None, dict[str, Any]]:
    """The tip of the task's ledger and its entries, by idempotency key."""
    tip = store.read(effects_ref(key))
    if tip is None:
        return None, {}
    try:
        data = json.loads(tree_file(store.repo[tip].peel(pygit2.Commit).tree, EFFECTS_FILE))
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise CorruptState(f"the effects ledger of {key} ({tip[:12]}) cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptState(f"the effects ledger of {key} ({tip[:12]}) is not a JSON object")
    return tip, data


def ledger_update(
    store: Store, key: str, tip: str | None, entries: dict[str, Any], who: str, effect: str, generation: int
) -> Update:
    """The next commit of the ledger holding `entries` (objects only), and the CAS that installs it."""
    body = json.dumps(entries, indent=2, sort_keys=True) + "\n"
    tree = single_file_tree(store.repo, EFFECTS_FILE, body.encode())
    message = compose(
        f"effects {key}: record {effect}", {Trailer.TASK: key, Trailer.AGENT: who, Trailer.GENERATION: generation}
    )
    commit = write_commit(store.repo, who, message, tree, [tip] if tip else [])
    return Update(effects_ref(key), commit, tip or ZERO)
