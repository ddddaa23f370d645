"""One reconcile pass: read desired and observed state from Git, decide, apply.

Apply order makes a crash at any point recoverable: lease commits first (each a CAS), then
one status commit (a CAS on `refs/mc/status`). A pass killed in between leaves leases that
say "expired" or "revoked" while the status still says otherwise; the next pass reads the
lease and reaches the same decision. Objects written before a crash are unreferenced and
harmless.
"""

from __future__ import annotations

import contextlib
import time
from collections import ChainMap, Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pygit2

from reconciler.control.decide import LeaseChange, Plan, Transition
from reconciler.control.failpoints import failpoint
from reconciler.control.gates import Gates
from reconciler.control.governed import Governance
from reconciler.control.incremental import Changes, IncrementalDecider
from reconciler.control.queue_build import StatusQueue
from reconciler.gitstate.approvals import CHANGES_REF
from reconciler.gitstate.fence import FenceProvider, no_fence
from reconciler.gitstate.leases import advance, lease_at, move_unsharded
from reconciler.gitstate.nodes import NODES_PREFIX, node_at, node_name, node_ref
from reconciler.gitstate.publish import PublishConflict, publish, published, result_facts
from reconciler.gitstate.ref_tips import RefTips
from reconciler.gitstate.refs import LEASES_PREFIX, lease_key, lease_ref
from reconciler.gitstate.status import StatusView, read_status, status_commit, status_update
from reconciler.gitstate.store import Store
from reconciler.governance.gate import Gate
from reconciler.manifests.desired import DesiredState, index, named_for_file, reindex, stem
from reconciler.manifests.disk_cache import ManifestCache, cache_dir
from reconciler.manifests.loader import GitSource, Snapshot, changed_paths, load, load_changed
from reconciler.manifests.manifest_file import ManifestFile
from reconciler.vocabulary.conditions import Reason
from reconciler.vocabulary.errors import Conflict, CorruptState, RefLocked
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import Kind
from reconciler.vocabulary.leases import Lease, LeaseAction, LeaseState
from reconciler.vocabulary.nodes import NodeRecord
from reconciler.vocabulary.status import TaskStatus
from reconciler.vocabulary.trailers import RECONCILER, Trailer, compose

MAX_RETRIES = 5
# libgit2 keeps parsed trees in its object cache only up to 4 KB each by default, so the
# directory of a big mission (40 bytes an entry) was parsed again by every lookup into it: by
# the diff of each commit (its old tree included, read the pass before) and by each path looked
# up in it. A pass keeps the trees it reads (within libgit2's total cache, 256 MB by default).
TREE_CACHE_LIMIT = 64 << 20
MESSAGE_TRANSITIONS = 1000  # a status commit's message lists this many transitions at most
LOCKED_RETRY = 2.0  # seconds before a task held by a locked lease ref is tried again


@dataclass(slots=True)
class PassResult:
    transitions: list[Transition] = field(default_factory=list)
    status_commit: str | None = None
    leases_written: int = 0
    conflicts: int = 0
    skipped: bool = False  # nothing could have changed since the last pass
    gave_up: bool = False  # every attempt lost a compare-and-swap: nothing was written
    blocked: str = ""  # the status ref is locked by another update: nothing was written, retry later
    held: dict[str, str] = field(default_factory=dict)  # tasks held where they are, and why
    wake_at: float | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class Desired:
    commit: str | None
    state: DesiredState
    specs: dict[str, str]
    invalid: frozenset[str] = frozenset()  # tasks whose manifest exists but does not validate


def _invalid_tasks(snapshot: Snapshot) -> frozenset[str]:
    return frozenset(
        TaskKey.of(mf.location.mission or "", mf.declared_name())
        for mf in snapshot.manifests()
        if mf.obj is None and mf.location.kind == Kind.TASK
    )


def _file_key(mf: ManifestFile) -> TaskKey:
    """The key a task file is named for (`mission/<its file's name>`), wherever in tasks/ it is."""
    return TaskKey.of(mf.location.mission or "", stem(mf.path))


def _specs(snapshot: Snapshot) -> dict[str, str]:
    out: dict[str, str] = {}
    for mf in sorted(snapshot.manifests(), key=lambda f: f.path):
        if mf.obj is not None and mf.obj.kind == Kind.TASK:
            out.setdefault(mf.obj.key, mf.oid)  # as `index` does: of two with one name, the first by path
    return out


class Reconciler:
    """Holds the caches that make a pass cheap; `run_once` is one pass."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, fence: FenceProvider = no_fence) -> None:
        pygit2.settings.cache_object_limit(pygit2.enums.ObjectType.TREE, TREE_CACHE_LIMIT)
        self.store = store
        self.clock = clock
        self.fence = fence
        self.corrupt_leases: dict[str, str] = {}
        self.snapshot: Snapshot | None = None
        self.desired: Desired | None = None
        self.view: StatusView | None = None
        self._last_inputs: tuple[object, ...] | None = None
        self.lease_refs = RefTips(store.repo, LEASES_PREFIX, lease_key, lease_ref, sharded=True)
        self._leases: dict[str, Lease] = {}
        self._lease_serial = 0  # counts the reads that found lease refs moved: part of a pass's inputs
        self._lease_changes: set[str] | None = None  # tasks whose lease moved since the last decision
        self.node_refs = RefTips(store.repo, NODES_PREFIX, node_name, node_ref, sharded=False)
        self._nodes: dict[str, NodeRecord] = {}
        self._wake_at: float | None = None
        self.governance = Governance(store)  # the policies and principals in force, per commit
        self.gates = Gates(store, self.governance)  # the approval gates of results awaiting approval
        self._changes_tip: str | None = None
        self.publish_held: dict[str, str] = {}  # approved results that cannot be merged, and why
        self.decider = IncrementalDecider()
        self._indexed: DesiredState | None = None  # the snapshot indexed, before governance overlays it
        self._pending: tuple[dict[str, str], frozenset[str]] | None = None  # its specs and invalid tasks
        self._misnamed = 0  # task files whose object is named otherwise than the file
        self._stems: Counter[str] = Counter()  # task files by the key they are named for (tasks/ nests)
        self._seen: _Seen | None = None  # the inputs of the last decision, to tell what changed since
        self._status_changes: set[str] | None = None  # tasks whose status changed since then (None: unknown)
        # tasks whose manifest changed since the last decision, and since the last queue written (None: unknown)
        self._specs_moved: tuple[set[str] | None, set[str] | None] = (None, None)
        self.queue = StatusQueue()  # the claim queue, kept from pass to pass

    def read_desired(self) -> Desired:
        # A missing branch is an error, never "no tasks": that would cancel every task.
        tip = self.store.require_desired()
        changes = self.store.read(CHANGES_REF)  # an approved change to policies brings them into force
        if self.desired is not None and self.desired.commit == tip and changes == self._changes_tip:
            return self.desired
        tree = self.store.repo[tip].peel(pygit2.Commit).tree
        before = self.snapshot
        if before is None:  # a (re)start: what no commit changed is in the disk cache
            cache = ManifestCache(cache_dir(self.store.repo))
            self.snapshot = load(GitSource(self.store.repo, tree), cache=cache)
            if cache.added or cache.rejected or len(cache.entries) != self.snapshot.cached:
                with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
                    cache.save(self.snapshot.manifests())
            self._index_all()
        elif before.tree_id != str(tree.id):  # a commit: read and index what it changed
            changed = changed_paths(self.store.repo, before.tree_id or "", tree)
            replaced = load_changed(GitSource(self.store.repo, tree), before, changed)  # in place
            if replaced is None:
                self.snapshot = load(GitSource(self.store.repo, tree), previous=before)
                self._index_all()
            elif not self._reindex(replaced, before):
                self._index_all()
        assert self._indexed is not None
        assert self._pending is not None
        state = self.governance.desired(self._indexed, tip)
        self.desired = Desired(tip, state, *self._pending)
        self._changes_tip = changes
        return self.desired

    def _index_all(self) -> None:
        """Index every manifest of the snapshot (a start, or a change `_reindex` cannot apply).
        Which specs moved is found by comparing them all: the spec tables are updated in place
        between full indexes, so no one may compare an old table with a new one."""
        assert self.snapshot is not None
        files = list(self.snapshot.manifests())
        old = self._pending[0] if self._pending is not None else None
        self._indexed = index(files)
        self._pending = (_specs(self.snapshot), _invalid_tasks(self.snapshot))
        self._misnamed = sum(1 for mf in files if mf.location.kind == Kind.TASK and not named_for_file(mf))
        self._stems = Counter(_file_key(mf) for mf in files if mf.location.kind == Kind.TASK)
        if old is None:
            self._specs_moved = (None, None)
        else:
            self._moved({k for k, _ in old.items() ^ self._pending[0].items()})

    def _moved(self, keys: set[str]) -> None:
        """Note tasks whose manifest changed, for the next decision and the next queue written."""
        for_decider, for_queue = self._specs_moved
        self._specs_moved = (
            None if for_decider is None else for_decider | keys,
            None if for_queue is None else for_queue | keys,
        )

    def _reindex(self, replaced: dict[str, ManifestFile | None], after: Snapshot) -> bool:
        """Apply a few changed task files (`replaced`: path -> the file before) to the indexed
        state, its specs and invalid tasks, in place; False (nothing applied) when they cannot
        be applied alone."""
        if self._indexed is None or self._pending is None or self._misnamed:
            return False
        pairs = [(replaced[p], after.files.get(p)) for p in sorted(replaced)]
        stems = self._stems_after(pairs)
        if stems is None:
            return False
        state = reindex(self._indexed, pairs)
        if state is None:
            return False
        self._stems.update(stems)
        specs, invalid = self._pending[0], set(self._pending[1])
        for old, new in pairs:
            for mf in (old, new):
                if mf is not None:
                    key = _file_key(mf)
                    specs.pop(key, None)
                    invalid.discard(key)
            if new is not None and new.obj is not None:
                specs[new.obj.key] = new.oid
            elif new is not None:
                invalid.add(TaskKey.of(new.location.mission or "", new.declared_name()))
        self._indexed, self._pending = state, (specs, frozenset(invalid))
        self._moved({_file_key(mf) for pair in pairs for mf in pair if mf})
        return True

    def _stems_after(self, pairs: list[tuple[ManifestFile | None, ManifestFile | None]]) -> Counter[str] | None:
        """The change to `_stems` the pairs make; None if a file name they touch is, before or
        after, held by two task files (in two directories of `tasks/`): which one declares the
        task is "first by path", which only a full index settles."""
        delta: Counter[str] = Counter()
        for before, after in pairs:
            for mf, step in ((before, -1), (after, 1)):
                if mf is not None and mf.location.kind == Kind.TASK:
                    delta[_file_key(mf)] += step
        if any(self._stems[k] > 1 or self._stems[k] + n > 1 for k, n in delta.items()):
            return None
        return delta

    def read_leases(self) -> dict[str, Lease]:
        """Every task's lease chain tip, reread only where lease refs moved
        (`gitstate.ref_tips`); one that cannot be read goes to `corrupt_leases`. Lease refs
        found in the layout before sharding are moved first."""
        changed = self.lease_refs.read()
        if not changed:
            return self._leases
        self._lease_serial += 1
        if self._lease_changes is not None:
            self._lease_changes |= changed
        repo, tips, names = self.store.repo, self.lease_refs.tips, self.lease_refs.names
        unsharded = []  # lease refs found in the layout before sharding
        for key in changed:
            self._leases.pop(key, None)
            self.corrupt_leases.pop(key, None)
            tip = tips.get(key)
            if tip is None:
                continue
            try:
                self._leases[key] = lease_at(repo, tip)
            except CorruptState as exc:
                self.corrupt_leases[key] = f"{names[key]}: {exc}"
            if names[key] != lease_ref(key):
                unsharded.append(key)
        if unsharded:
            self._move_unsharded(sorted(unsharded))
        return self._leases

    def _move_unsharded(self, keys: list[str]) -> None:
        """Move lease refs of the layout before sharding to their sharded names (one
        transaction, so a crash leaves either layout whole), then read them there."""
        names, tips = self.lease_refs.names, self.lease_refs.tips
        moves = [u for k in keys for u in move_unsharded(k, names[k], tips[k])]
        with self.fence() as fence:
            self.store.transact([*moves, *fence.updates], fence.verifies)
        self.read_leases()

    def _apply_leases(self, plan: Plan, now: float) -> int:
        """End or fence the plan's leases, each by CAS from the tip this pass read.

        A lease ref locked by another update holds only its task (`_Locked`); any other lost
        race makes the whole pass start again from fresh reads (`Conflict`)."""
        written = 0
        for change in plan.lease_actions:
            tip = self.lease_refs.tips.get(change.key)
            state = change.action.ends_in
            if change.lease is None or change.action is LeaseAction.FENCE:
                ended = _fence_lease(change, now)
                subject = f"lease {change.key}: fence generation {change.generation} (task removed from desired state)"
            else:
                reason = (
                    "not renewed before expiry" if state is LeaseState.EXPIRED else "task removed from desired state"
                )
                ended = change.lease.ended(state, reason, now)
                subject = f"lease {change.key}: {state} generation {change.lease.generation}"
            try:
                with self.fence() as fence:
                    new = advance(
                        self.store, ended, tip, subject, also=fence.updates, verifies=fence.verifies, who=RECONCILER
                    )
                self.lease_refs.wrote(change.key, new)
                self._leases[change.key] = ended
                if self._lease_changes is not None:
                    self._lease_changes.add(change.key)
            except RefLocked as exc:
                if not str(exc.details.get("lock", "")).endswith(f"{lease_ref(change.key)}.lock"):
                    raise  # another ref of the transaction (the leader lease): the whole pass waits
                raise _Locked(change.key, str(exc)) from None
            written += 1
            failpoint("reconcile-after-lease-write")
        return written

    def _queue(self, statuses: Mapping[str, TaskStatus], plan: Plan, desired: Desired) -> dict[str, bytes | None]:
        """The claim queue's files that this pass changes (`control/queue_build.py`)."""
        assert self.view is not None
        view = self.view
        files = self.queue.files(
            self.store.repo,
            view.tip,
            view.queue_ok,
            statuses,
            set(plan.statuses),
            desired.state,
            desired.specs,
            self._specs_moved[1],
        )
        self._specs_moved = (self._specs_moved[0], set())
        return files

    def run_once(self) -> PassResult:
        started = time.perf_counter()
        result = PassResult()
        self.store.sync()
        locked: dict[str, tuple[Reason, str]] = {}
        conflicts = 0
        while True:
            now = self.clock()
            desired = self.read_desired()
            self.view = self._noted(read_status(self.store, self.view))
            leases = self.read_leases()
            held = self._held(locked)
            inputs = (
                desired.commit,
                self._changes_tip,
                self.view.tip,
                self._lease_serial,
                self.gates.tips(self.view.tasks, desired.state, self.view),
            )
            if not held and inputs == self._last_inputs and (self._wake_at is None or now < self._wake_at):
                result.skipped, result.wake_at = True, self._wake_at
                break
            plan = self._decide(desired, leases, now, held, bool(inputs[-1]))
            result.held = {**plan.held, **self.publish_held}
            if locked:
                plan.wake(now + LOCKED_RETRY)
            failpoint("reconcile-after-decide")
            result.wake_at = self._wake_at = plan.wake_at
            if not plan.statuses and not plan.lease_actions and self.view.queue_ok:
                self._last_inputs = None if held else inputs
                break
            try:
                result.leases_written += self._apply_leases(plan, now)
                commit = self._write_status(plan, desired)
            except _Locked as lock:  # one lease ref is locked: hold that task, serve the others
                locked[lock.key] = (Reason.LEASE_LOCKED, lock.message)
                continue
            except RefLocked as exc:  # the status ref itself: report, and try again later, no spinning
                result.blocked = str(exc)
                result.wake_at = now + LOCKED_RETRY
                self._last_inputs = None
                break
            except Conflict:
                conflicts += 1
                result.conflicts = conflicts
                if conflicts == MAX_RETRIES:
                    result.gave_up = True
                    break
                self.store.sync()
                continue
            result.transitions += plan.transitions
            result.status_commit = commit
            # What we just wrote is the input of the next pass, and a decision on its own output
            # changes nothing (tests/control/test_decide_machine.py checks it): skip that pass
            # unless refs moved.
            self._last_inputs = (
                None
                if held
                else (
                    desired.commit,
                    self._changes_tip,
                    commit,
                    self._lease_serial,
                    self.gates.tips(self.view.tasks, desired.state, self.view),
                )
            )
            break
        result.seconds = time.perf_counter() - started
        return result

    def _decide(
        self, desired: Desired, leases: dict[str, Lease], now: float, held: dict[str, tuple[Reason, str]], gated: bool
    ) -> Plan:
        assert self.view is not None
        approved: dict[str, str] = {}
        run_approved: dict[str, str] = {}
        if gated:
            commit = desired.commit or ""
            approved = self._publish(desired, self.gates.open(desired.state, commit, self.view.tasks))
            run_approved = self.gates.run_open(desired.state, commit, self.view.tasks, desired.specs)
        changes = self._changes(desired, leases)
        plan = self.decider.decide(
            desired.state,
            desired.specs,
            self.view.tasks,
            leases,
            now,
            desired.invalid,
            held,
            self.read_nodes(),
            approved,
            run_approved,
            changes,
        )
        self._seen = _Seen(desired, _mission_wide(desired.state))
        self._status_changes = set()
        self._lease_changes = set()
        self._specs_moved = (set(), self._specs_moved[1])
        return plan

    def _noted(self, view: StatusView) -> StatusView:
        """`view`, which replaces `self.view`: note which tasks' statuses changed since the last decision."""
        if view is not self.view and self._status_changes is not None:
            if view.changed is None:
                self._status_changes = None
            else:
                self._status_changes |= view.changed
        return view

    def _changes(self, desired: Desired, leases: dict[str, Lease]) -> Changes | None:
        """What changed since the last decision; None when it cannot be told (then all is decided)."""
        seen = self._seen
        if seen is None or self._status_changes is None or self._lease_changes is None:
            return None
        tasks = set(self._status_changes)
        missions: set[str] = set()
        if desired is not seen.desired:
            moved = self._specs_moved[0]
            if moved is None:
                old, new = seen.desired.specs, desired.specs
                moved = {k for k, _ in old.items() ^ new.items()}
            tasks |= moved
            wide = _mission_wide(desired.state)
            missions = {m for m in wide.keys() | seen.missions.keys() if wide.get(m) != seen.missions.get(m)}
        tasks |= self._lease_changes
        return Changes(frozenset(tasks), frozenset(missions))

    def _publish(self, desired: Desired, gates: dict[str, Gate]) -> dict[str, str]:
        """Merge each result whose publish gate is open into the desired-state branch (unless it
        is there already); task -> result, for those published. One that conflicts stays
        AwaitingApproval, and the pass says why (`held`)."""
        assert desired.commit is not None
        out: dict[str, str] = {}
        main = desired.commit
        for key, gate in sorted(gates.items()):
            result = gate.commit
            assert result is not None
            if not published(self.store, main, result):
                approvals = [f"{v.principal} {v.fingerprint} {v.approval}" for v in gate.verdicts if v.counts]
                facts = result_facts(self.store, result)
                try:
                    with self.fence() as fence:
                        main = publish(self.store, TaskKey(key), main, result, facts, approvals, fence)
                    failpoint("reconcile-after-publish")
                except PublishConflict as exc:
                    self.publish_held[key] = str(exc)
                    continue
                except Conflict as exc:  # the branch moved under us: the next pass reads it and tries again
                    self.publish_held[key] = f"publication lost a race ({exc}); tried again at the next pass"
                    continue
            self.publish_held.pop(key, None)
            out[key] = result
        return out

    def read_nodes(self) -> dict[str, NodeRecord]:
        """The mesh nodes' records (a node's heartbeat vouches for its leases); unreadable ones
        vouch for nothing."""
        for name in self.node_refs.read():
            self._nodes.pop(name, None)
            tip = self.node_refs.tips.get(name)
            if tip is not None:
                with contextlib.suppress(CorruptState):
                    self._nodes[name] = node_at(self.store.repo, tip)
        return self._nodes

    def _held(self, locked: dict[str, tuple[Reason, str]]) -> dict[str, tuple[Reason, str]]:
        assert self.view is not None
        held: dict[str, tuple[Reason, str]] = {k: (Reason.CORRUPT_STATUS, m) for k, m in self.view.corrupt.items()}
        held.update({k: (Reason.CORRUPT_LEASE, m) for k, m in self.corrupt_leases.items()})
        held.update(locked)
        return held

    def _write_status(self, plan: Plan, desired: Desired) -> str:
        assert self.view is not None
        merged = ChainMap(plan.statuses, self.view.tasks)  # the statuses after this pass, without a copy
        subject = (
            f"reconcile: {len(plan.transitions)} transition(s)" if plan.transitions else "reconcile: conditions updated"
        )
        listed = [str(t) for t in plan.transitions[:MESSAGE_TRANSITIONS]]
        if len(plan.transitions) > MESSAGE_TRANSITIONS:  # each task's own history holds them all
            listed.append(f"... and {len(plan.transitions) - MESSAGE_TRANSITIONS} more (see each task's history)")
        body = "\n".join(listed) or "conditions updated"
        message = compose(subject, {Trailer.DESIRED: desired.commit or "none"}, body)
        files: dict[str, bytes | None] = self._queue(merged, plan, desired)
        written = status_commit(self.store, self.view, plan.statuses, message, files)
        commit = written.tip
        assert commit is not None
        failpoint("reconcile-before-status-ref")
        with self.fence() as fence:
            self.store.transact([status_update(self.view, commit), *fence.updates], fence.verifies)
        failpoint("reconcile-after-status-ref")
        self.queue.landed(commit)
        self.view = written  # the decision's own output: the decider looks at those tasks again anyway
        return commit


@dataclass(frozen=True, slots=True)
class _Seen:
    """The inputs of a decision, kept to tell what changed before the next one."""

    desired: Desired
    missions: dict[str, tuple[object, ...]]


def _mission_wide(state: DesiredState) -> dict[str, tuple[object, ...]]:
    """What each mission declares besides its tasks: a change to any of it concerns them all."""
    return {
        name: (ms.mission, dict(ms.klusters), dict(ms.agents), dict(ms.policies)) for name, ms in state.missions.items()
    }


class _Locked(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


def _fence_lease(change: LeaseChange, now: float) -> Lease:
    """The commit that closes a chain with no live lease: no claim from an older queue lands."""
    return Lease(
        change.key,
        change.generation,
        RECONCILER,
        None,
        LeaseState.REVOKED,
        now,
        now,
        now,
        0.0,
        reason="task removed from desired state: fenced so that no claim lands",
    )
