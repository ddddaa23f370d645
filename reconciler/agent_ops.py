"""What an agent does in pull mode: claim, heartbeat, checkpoint, complete, fail, release.

Every operation after the claim names the lease generation it holds. It is checked against
the tip of the lease chain, and the write itself is a transaction that moves the work
branch and/or the lease chain only if the lease chain is still at that tip: a holder that was
presumed dead and comes back cannot overwrite its successor's work.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pygit2

from reconciler.errors import McError, UsageError
from reconciler.leases import ACTIVE, Lease, advance, current, read_lease, renewed
from reconciler.queue_index import QueueEntry, read_queue
from reconciler.refs import STATUS_REF, ZERO, CasConflict, Update, Verify, lease_ref, work_ref
from reconciler.store import Store

if TYPE_CHECKING:
    from reconciler.model import Task

DEFAULT_TTL = 60.0
FENCED_ATTEMPTS = 8
T = TypeVar("T")


class NothingToClaim(McError):
    """No task is ready for this agent right now (exit code 3, so scripts can tell)."""

    exit_code = 3


class InvalidOutputs(McError):
    """Outputs that do not satisfy the task's output schema; the task stays Running."""


@dataclass(frozen=True, slots=True)
class Claimed:
    lease: Lease
    lease_commit: str
    work_ref: str
    work_commit: str

    def to_dict(self) -> dict[str, Any]:
        mission, task = self.lease.key.split("/", 1)
        return {
            "task": self.lease.key,
            "mission": mission,
            "name": task,
            "generation": self.lease.generation,
            "agent": self.lease.agent,
            "node": self.lease.node,
            "expiresAt": json.loads(self.lease.to_json())["expires_at"],
            "ttlSeconds": self.lease.ttl,
            "leaseCommit": self.lease_commit,
            "workBranch": self.work_ref,
            "workCommit": self.work_commit,
        }


def _eligible(entry: QueueEntry, agent: str, mission: str | None, now: float) -> bool:
    if mission is not None and entry.key.split("/", 1)[0] != mission:
        return False
    return agent in entry.agents and (entry.not_before is None or entry.not_before <= now)


def resolve_agent(queue: list[QueueEntry], agent: str) -> str:
    """Accept an agent id (`name-8hex`) or, when unambiguous, a bare agent name."""
    known = {a for e in queue for a in e.agents}
    if agent in known or not known:
        return agent
    matches = sorted(a for a in known if a.rsplit("-", 1)[0] == agent)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"agent name {agent!r} is ambiguous: {', '.join(matches)}; pass the agent id")
    return agent


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
    store.sync()
    index = read_queue(store.repo, store.read(STATUS_REF))
    queue = index.tasks
    agent = resolve_agent(queue, agent)
    limit = replicas if replicas is not None else index.replicas.get(agent)
    if limit is not None and index.running.get(agent, 0) >= limit:
        raise NothingToClaim(f"agent {agent} already runs {index.running[agent]} task(s) (replicas: {limit})")
    candidates = sorted(
        (e for e in queue if _eligible(e, agent, mission, now)), key=lambda e: (-e.priority, e.created, e.key)
    )
    main = store.read(store.desired_ref)
    for entry in candidates:
        tip, lease = read_lease(store, entry.key)
        if lease is not None and (lease.generation > entry.generation or lease.live(now)):
            continue  # claimed since the reconciler's last pass
        generation = max(entry.generation, lease.generation if lease else 0) + 1
        granted = Lease(entry.key, generation, agent, node, ACTIVE, now, now, now + ttl, ttl)
        branch = work_ref(entry.key)
        work_tip = store.read(branch)
        extra: tuple[Update, ...] = ()
        if work_tip is None:
            if main is None:
                raise McError(f"{store.desired_ref} does not exist: nothing to start the work branch from")
            work_tip = main
            extra = (Update(branch, main, ZERO),)
        message = f"lease {entry.key}: grant generation {generation} to {agent}" + (f" on {node}" if node else "")
        try:
            commit = advance(store, granted, tip, message, also=extra, who=agent)
        except CasConflict:
            continue  # another claimer won this one; try the next
        return Claimed(granted, commit, branch, work_tip)
    if not candidates:
        raise NothingToClaim(f"no task is ready for agent {agent}" + (f" in mission {mission}" if mission else ""))
    raise NothingToClaim(f"every ready task for agent {agent} was claimed by someone else")


def _fenced(store: Store, key: str, generation: int, now: float, write: Callable[[str, Lease], T]) -> T:
    """Run `write(tip, lease)` under the current lease of `key` at `generation`.

    The write is a CAS on the lease chain's tip. It also loses when the holder itself moved
    the chain in the meantime (a heartbeat from its background loop, racing a checkpoint or
    the result): then the generation is still current and the write is retried on the new
    tip. Once the generation is no longer current, `current` refuses with StaleGeneration.
    """
    store.sync()
    for attempt in range(FENCED_ATTEMPTS):
        tip, lease = current(store, key, generation, now)
        try:
            return write(tip, lease)
        except CasConflict:
            if attempt == FENCED_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.005, 0.03) * (attempt + 1))
            store.sync()
    raise AssertionError("unreachable")


def heartbeat(store: Store, key: str, generation: int, now: float) -> Lease:
    """Renew the lease (and mark the agent started); refused for a stale generation."""

    def write(tip: str, lease: Lease) -> Lease:
        fresh = renewed(lease, now)
        advance(store, fresh, tip, f"lease {key}: renew generation {generation}")
        return fresh

    return _fenced(store, key, generation, now, write)


def _tree_of(repo: pygit2.Repository, worktree: Path) -> str:
    """The tree of a directory's files as Git would add them (honouring .gitignore)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git = ["git", "--git-dir", repo.path, "--work-tree", str(worktree)]
        add = subprocess.run(
            [*git, "add", "-A", "."], cwd=worktree, env=env, capture_output=True, text=True, check=False
        )
        if add.returncode != 0:
            raise McError(f"cannot snapshot {worktree}: {add.stderr.strip()}")
        out = subprocess.run([*git, "write-tree"], env=env, capture_output=True, text=True, check=True)
        return out.stdout.strip()


def _work_commit(
    store: Store, lease: Lease, message: str, trailers: dict[str, str], worktree: Path | None
) -> tuple[str, str | None]:
    repo = store.repo
    branch = work_ref(lease.key)
    parent = store.read(branch)
    if parent is None:
        raise McError(f"{branch} does not exist; was the task claimed?")
    tree = _tree_of(repo, worktree) if worktree is not None else str(repo[parent].peel(pygit2.Commit).tree.id)
    sig = pygit2.Signature(lease.agent, f"{lease.agent}@missioncontrol.invalid")
    body = message.rstrip() + "\n\n" + "".join(f"{k}: {v}\n" for k, v in trailers.items())
    oid = repo.create_commit(None, sig, sig, body, pygit2.Oid(hex=tree), [pygit2.Oid(hex=parent)])
    return str(oid), parent


def _trailers(lease: Lease, kind: str) -> dict[str, str]:
    return {"MC-Task": lease.key, "MC-Agent": lease.agent, "MC-Generation": str(lease.generation), "MC-Kind": kind}


def checkpoint(store: Store, key: str, generation: int, message: str, now: float, worktree: Path | None = None) -> str:
    """A commit on the task's work branch, fenced by the lease generation."""

    def write(tip: str, lease: Lease) -> str:
        commit, parent = _work_commit(store, lease, message, _trailers(lease, "checkpoint"), worktree)
        move = Update(work_ref(key), commit, parent or ZERO)
        if store.remote is None:
            store.transact([move], [Verify(lease_ref(key), tip)])
        else:
            # A push cannot verify a ref it does not move, and checking the last fetch leaves a
            # window in which a successor may be granted. So the checkpoint also renews the
            # lease, in the same atomic push: the server takes both or neither.
            note = f"lease {key}: renew generation {generation} (checkpoint {commit[:12]})"
            advance(store, renewed(lease, now), tip, note, also=(move,))
        return commit

    return _fenced(store, key, generation, now, write)


def task_spec(store: Store, spec_blob: str, key: str) -> Task:
    """The task's manifest as the reconciler last acted on it (by blob id)."""
    from reconciler.layout import Location
    from reconciler.manifest_file import read_manifest
    from reconciler.model import Task

    mission = key.split("/", 1)[0]
    data = store.repo[spec_blob].peel(pygit2.Blob).data
    mf = read_manifest(
        f"missions/{mission}/tasks/{key.split('/', 1)[1]}.yaml", spec_blob, data, Location("Task", mission)
    )
    if not isinstance(mf.obj, Task):
        raise McError(f"the manifest of {key} ({spec_blob[:12]}) does not validate")
    return mf.obj


def _spec_blob(store: Store, key: str) -> str:
    tip = store.read(STATUS_REF)
    if tip is None:
        raise McError("no status yet: run the reconciler")
    tree = store.repo[tip].peel(pygit2.Commit).tree
    mission, task = key.split("/", 1)
    try:
        blob = tree[f"{mission}/{task}.json"]
    except KeyError:
        raise UsageError(f"unknown task {key}") from None
    spec: str = json.loads(blob.peel(pygit2.Blob).data)["spec"]
    return spec


def check_outputs(task: Task, outputs: dict[str, Any]) -> None:
    if task.outputs_schema is None:
        return
    import jsonschema  # only here: claims and heartbeats start measurably faster without it

    errors = sorted(
        jsonschema.Draft202012Validator(task.outputs_schema).iter_errors(outputs), key=lambda e: list(e.path)
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise InvalidOutputs(f"outputs refused, task stays Running: at {where}: {errors[0].message}")


def complete(
    store: Store,
    key: str,
    generation: int,
    now: float,
    outputs: dict[str, Any] | None = None,
    worktree: Path | None = None,
) -> str:
    """Record the result: a result commit on the work branch and a `completed` lease, atomically."""

    def write(tip: str, lease: Lease) -> str:
        check_outputs(task_spec(store, _spec_blob(store, key), key), outputs or {})
        commit, parent = _work_commit(store, lease, f"Result of {key}", _trailers(lease, "result"), worktree)
        done = replace(renewed(lease, now), state="completed", outputs=outputs or {}, result_commit=commit)
        advance(
            store,
            done,
            tip,
            f"lease {key}: completed generation {generation}",
            also=(Update(work_ref(key), commit, parent or ZERO),),
        )
        return commit

    return _fenced(store, key, generation, now, write)


def end(store: Store, key: str, generation: int, now: float, state: str, reason: str) -> Lease:
    """`failed` or `released`: hand the task back to the reconciler."""

    def write(tip: str, lease: Lease) -> Lease:
        ended = replace(lease, state=state, reason=reason, renewed_at=now)
        message = f"lease {key}: {state} generation {generation}" + (f": {reason}" if reason else "")
        advance(store, ended, tip, message)
        return ended

    return _fenced(store, key, generation, now, write)
