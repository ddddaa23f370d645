"""Reports on a held lease: heartbeat, usage, checkpoint, complete, fail and release.

Every report presents a `LeaseHandle`: the generation it holds (the fencing token) and the
lease secret its claim returned (the credential; Git stores only its hash), so only the holder
can report. Both are checked against the tip of the lease chain, and the write itself is a transaction that moves the work branch and/or the lease chain
only if the lease chain is still at that tip: a holder that was presumed dead and comes back
cannot overwrite its successor's work.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import pygit2

from reconciler.gitstate.leases import advance, current, read_lease, renew
from reconciler.gitstate.refs import STATUS_REF, ZERO, Update, Verify, lease_ref, work_ref
from reconciler.gitstate.status_files import task_status_data
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import Conflict, InvalidOutputs, McError, NotFound, OutsidePaths, OverBudget
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import Lease, LeaseHandle, LeaseState
from reconciler.vocabulary.trailers import Trailer, WorkKind

if TYPE_CHECKING:  # the manifests and work branches only matter to checkpoints and results
    from pathlib import Path

    from reconciler.manifests.task_model import Task
    from reconciler.vocabulary.spend import Spend

FENCED_ATTEMPTS = 8
T = TypeVar("T")


def _status_blob(store: Store, key: TaskKey) -> dict[str, Any] | None:
    tip = store.read(STATUS_REF)
    if tip is None:
        return None
    found = task_status_data(store.repo[tip].peel(pygit2.Commit).tree, key)
    if found is None:
        return None
    data: dict[str, Any] = json.loads(found)
    return data


def fenced(store: Store, key: TaskKey, handle: LeaseHandle, now: float, write: Callable[[str, Lease], T]) -> T:
    """Run `write(tip, lease)` under the current lease of `key`, if `handle` is its holder's.

    The write is a CAS on the lease chain's tip. It also loses when the holder itself moved
    the chain in the meantime (a heartbeat from its background loop, racing a checkpoint or
    the result): then the generation is still current and the write is retried on the new
    tip. Once the generation is no longer current, `current` refuses with StaleGeneration; a
    wrong secret or agent is refused with NotHolder, before anything is written.
    """
    store.sync()
    if read_lease(store, key)[0] is None and _status_blob(store, key) is None:
        raise NotFound(f"unknown task {key}: no status and no lease; see `mc get tasks`", task=key)
    for attempt in range(FENCED_ATTEMPTS):
        tip, lease = current(store, key, handle.generation, now, handle.secret, handle.agent)
        try:
            return write(tip, lease)
        except Conflict:
            if attempt == FENCED_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.005, 0.03) * (attempt + 1))
            store.sync()
    raise AssertionError("unreachable")


def heartbeat(store: Store, key: TaskKey, handle: LeaseHandle, now: float) -> Lease:
    """Renew the lease (and mark the agent started); refused for a stale generation."""

    def write(tip: str, lease: Lease) -> Lease:
        fresh = lease.renewed(now)
        renew(store, fresh, tip, f"lease {key}: renew generation {lease.generation}")
        return fresh

    return fenced(store, key, handle, now, write)


def usage(store: Store, key: TaskKey, handle: LeaseHandle, now: float, spent: Spend) -> Lease:
    """Add `spent` to the lease's reported spend (a renewal, so history does not grow).

    Spend that takes the attempt over the agent's per-run budget (copied into the lease at the
    grant) is recorded all the same, and ends the attempt as failed in the same write: OverBudget
    tells the agent to stop, and a mesh node stops it because its lease has ended."""

    def write(tip: str, lease: Lease) -> tuple[Lease, str | None]:
        fresh = replace(lease.renewed(now), spend=lease.spend + spent)
        over = lease.budget.exceeded_by(fresh.spend)
        if over is None:
            renew(store, fresh, tip, f"lease {key}: renew generation {lease.generation} (spent {fresh.spend})")
            return fresh, None
        reason = f"over budget: {over}"
        ended = fresh.ended(LeaseState.FAILED, reason, now)
        advance(store, ended, tip, f"lease {key}: {LeaseState.FAILED} generation {lease.generation}: {reason}")
        return ended, reason

    lease, over = fenced(store, key, handle, now, write)
    if over is not None:
        raise OverBudget(
            f"{key}: the attempt is over its agent's budget ({over}); its spend is recorded and it "
            "has failed: stop now",
            task=key,
            spend=lease.spend.to_dict(),
        )
    return lease


def _trailers(lease: Lease, kind: WorkKind) -> dict[Trailer, object]:
    trailers: dict[Trailer, object] = {
        Trailer.TASK: lease.key,
        Trailer.AGENT: lease.agent,
        Trailer.GENERATION: lease.generation,
        Trailer.KIND: kind,
    }
    if kind is WorkKind.RESULT:
        trailers[Trailer.SPEND] = lease.spend.trailer()
    return trailers


def checkpoint(
    store: Store, key: TaskKey, handle: LeaseHandle, message: str, now: float, worktree: Path | None = None
) -> str:
    """A commit on the task's work branch, fenced by the lease generation."""
    from reconciler.gitstate.work import check_worktree, work_commit

    if worktree is not None:
        check_worktree(store, key, worktree)  # a usage error before anything is read or written

    def write(tip: str, lease: Lease) -> str:
        commit, parent = work_commit(store, key, lease.agent, message, _trailers(lease, WorkKind.CHECKPOINT), worktree)
        move = Update(work_ref(key), commit, parent or ZERO)
        if store.remote is None:
            store.transact([move], [Verify(lease_ref(key), tip)])
        else:
            # A push cannot verify a ref it does not move, and checking the last fetch leaves a
            # window in which a successor may be granted. So the checkpoint also renews the
            # lease, in the same atomic push: the server takes both or neither.
            note = f"lease {key}: renew generation {lease.generation} (checkpoint {commit[:12]})"
            renew(store, lease.renewed(now), tip, note, also=(move,))
        return commit

    return fenced(store, key, handle, now, write)


def task_spec(store: Store, key: TaskKey) -> Task:
    """The task's manifest as the reconciler last acted on it (by the blob id in its status).

    The reconciler records the blob of a task only once it validated (desired.index keeps valid
    manifests only), and a blob id names its bytes: the task is built from it without checking
    its schema again, so a result imports jsonschema only to check outputs against an output
    schema, and with `task_model`, so it defines the task's types and not every kind's. A blob
    that does not build is refused as before."""
    status = _status_blob(store, key)
    if status is None:
        raise McError(f"no status for {key} yet: run the reconciler", task=key)
    from reconciler.manifests.findings import FindingError
    from reconciler.manifests.layout import task_file
    from reconciler.manifests.task_model import build_task, meta_of
    from reconciler.manifests.yamldoc import parse_yaml

    spec_blob = str(status["spec"])
    path = task_file(key.mission, key.name)
    data = store.repo[spec_blob].peel(pygit2.Blob).data
    try:
        doc = parse_yaml(data, path).data
        return build_task(doc, meta_of(doc), key.mission, path)
    except (FindingError, LookupError, TypeError, ValueError, AttributeError):  # not a valid task
        raise McError(f"the manifest of {key} ({spec_blob[:12]}) does not validate", task=key) from None


def check_outputs(task: Task, outputs: dict[str, Any]) -> None:
    from reconciler.manifests.outputs import output_error

    error = output_error(task.outputs_schema, outputs)
    if error is not None:
        raise InvalidOutputs(f"outputs refused, task stays Running: {error}", task=task.key)


def _need_results(store: Store, task: Task) -> set[str]:
    """The result commits of the tasks `task` needs, as their statuses record them."""
    found = (_status_blob(store, TaskKey.of(task.mission or "", n)) for n in task.needs)
    return {str(st["result_commit"]) for st in found if st is not None and st.get("result_commit")}


def check_paths(store: Store, task: Task, parent: str, result: str) -> None:
    """A result may change only what its task's `paths` cover (every path, with no `paths`)."""
    if not task.paths:
        return
    from reconciler.gitstate.work import changed_paths, start_of
    from reconciler.manifests.globs import glob_matches

    start = start_of(store, parent, _need_results(store, task))  # where it started from its needs' results, or
    base = start or store.repo.merge_base(parent, store.require_desired())  # where it left main
    changed = changed_paths(store, str(base) if base is not None else parent, result)
    outside = [p for p in changed if not any(glob_matches(g, p) for g in task.paths)]
    if outside:
        shown = ", ".join(outside[:10]) + (f" and {len(outside) - 10} more" if len(outside) > 10 else "")
        raise OutsidePaths(
            f"result refused, task stays Running: it changes paths outside the task's paths "
            f"({', '.join(task.paths)}): {shown}",
            task=task.key,
            paths=outside,
        )


def complete(
    store: Store,
    key: TaskKey,
    handle: LeaseHandle,
    now: float,
    outputs: dict[str, Any] | None = None,
    worktree: Path | None = None,
    trailers: Mapping[Trailer, object] | None = None,
) -> str:
    """Record the result: a result commit on the work branch and a `completed` lease, atomically.
    `trailers` adds to the result commit's (a mesh node names itself, the exit status, the time)."""
    from reconciler.gitstate.work import check_worktree, work_commit

    if worktree is not None:
        check_worktree(store, key, worktree)

    def write(tip: str, lease: Lease) -> str:
        task = task_spec(store, key)
        check_outputs(task, outputs or {})
        commit, parent = work_commit(
            store,
            key,
            lease.agent,
            f"Result of {key}",
            {**_trailers(lease, WorkKind.RESULT), **(trailers or {})},
            worktree,
        )
        check_paths(store, task, parent, commit)
        done = replace(
            lease.renewed(now).ended(LeaseState.COMPLETED, "", now), outputs=outputs or {}, result_commit=commit
        )
        advance(
            store,
            done,
            tip,
            f"lease {key}: completed generation {lease.generation}",
            also=(Update(work_ref(key), commit, parent or ZERO),),
        )
        return commit

    return fenced(store, key, handle, now, write)


def end(store: Store, key: TaskKey, handle: LeaseHandle, now: float, state: LeaseState, reason: str) -> Lease:
    """`failed` or `released`: hand the task back to the reconciler."""

    def write(tip: str, lease: Lease) -> Lease:
        ended = lease.ended(state, reason, now)
        subject = f"lease {key}: {state} generation {lease.generation}" + (f": {reason}" if reason else "")
        advance(store, ended, tip, subject)
        return ended

    return fenced(store, key, handle, now, write)
