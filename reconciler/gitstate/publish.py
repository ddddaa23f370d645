"""Publication: the approved result of a task merged into the desired-state branch.

The merge commit's parents are the branch's tip and the exact result commit that was approved;
its trailers say whose work it is (task, agent, generation) and who approved it (principal and
key fingerprint, per approval). It moves the branch by compare-and-swap against the tip the pass
read, fenced by the leader lease; a result the branch already contains is published already
(a pass that died after the merge and before its status commit finds it so), and is not merged
twice. Results that conflict with the branch are not published: the caller reports why.
"""

from __future__ import annotations

from collections.abc import Sequence

import pygit2

from reconciler.gitstate.commits import write_commit
from reconciler.gitstate.fence import Fence
from reconciler.gitstate.refs import Update
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import McError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.trailers import RECONCILER, Trailer, compose, parse


class PublishConflict(McError):
    """The approved result does not merge cleanly into the desired-state branch."""

    code = "publish_conflict"


def published(store: Store, main: str, result: str) -> bool:
    """Whether the branch at `main` already contains `result`."""
    return main == result or store.repo.descendant_of(main, result)


def publish(
    store: Store,
    key: TaskKey,
    main: str,
    result: str,
    facts: dict[Trailer, object],
    approvals: Sequence[str],
    fence: Fence,
) -> str:
    """Merge `result` into the desired-state branch at `main` (CAS); the merge commit."""
    merged = store.repo.merge_commits(main, result)
    if merged.conflicts is not None:
        paths = sorted({e.path for entry in merged.conflicts for e in entry if e is not None})
        raise PublishConflict(f"{key}'s result conflicts with {store.branch} on {', '.join(paths[:10])}", task=key)
    tree = merged.write_tree(store.repo)
    trailers: dict[Trailer, object] = {Trailer.TASK: key, **facts, Trailer.APPROVED_BY: list(approvals)}
    message = compose(f"Publish {key}: result {result[:12]}", trailers)
    commit = write_commit(store.repo, RECONCILER, message, tree, [main, result])
    store.transact([Update(store.branch_ref, commit, main), *fence.updates], fence.verifies)
    return commit


def result_facts(store: Store, result: str) -> dict[Trailer, object]:
    """The provenance the result commit itself carries (agent, generation, node)."""
    found = parse(store.repo[result].peel(pygit2.Commit).message)
    return {t: found[t] for t in (Trailer.AGENT, Trailer.GENERATION, Trailer.NODE) if t in found}
