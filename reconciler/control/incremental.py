"""The decision step, incrementally: a pass looks at the tasks whose inputs changed, not at all.

`IncrementalDecider.decide` takes what `decide` takes, plus `Changes`: the tasks whose manifest,
spec, status or lease changed since its last call, and the missions whose mission-wide manifests
did. From them it works out every task whose decision could differ from the last pass's:

- the changed tasks, every task of a changed mission, the tasks whose hold, validity or gate
  changed, the tasks of the last plan (written or not), and the tasks whose wake-up time has
  come (a lease expiry, a backoff; a heap), and those whose lease a node vouches for when that
  node's record changed;
- then, transitively, the tasks that need any of those (`needs` is read both ways);
- every Pending task that declares paths, if any task that declares paths is among them
  (admission into path scopes goes by priority over all of them);
- every task of a mission with a spend cap, if any of its tasks is among them.

Everything else gets the decision it got last time, which is no change: a decision on its own
output changes nothing (`tests/control/test_decide_machine.py`). What a full pass derives from
every task (the declared tasks by key, the dependency cycles, the tasks with paths, who needs
whom, each task's wake-up time, the inconsistent statuses) is kept up to date from the changes.
With no `Changes` (the first pass, or when the caller cannot tell) it decides everything.

Pure, like `decide`: no Git. `tests/control/test_incremental.py` checks that it gives the
plan `decide` gives, on random histories.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.control.decide import Decider, Plan, Scope
from reconciler.manifests.desired import DesiredState
from reconciler.manifests.graph import cycle_members
from reconciler.manifests.model import Task
from reconciler.vocabulary.conditions import Reason
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import Lease, LeaseState
from reconciler.vocabulary.nodes import NodeRecord
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.status import TaskStatus


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed in a pass's inputs since the last call of the decider."""

    tasks: frozenset[str] = frozenset()  # manifest or spec, status, or lease chain changed
    missions: frozenset[str] = frozenset()  # the mission, its klusters, agents or policies changed


@dataclass(slots=True)
class _Derived:
    """What a full pass derives from every task, kept up to date between passes."""

    tasks: dict[str, Task] = field(default_factory=dict)
    by_mission: dict[str, set[str]] = field(default_factory=dict)
    needed_by: dict[str, set[str]] = field(default_factory=dict)
    scoped: set[str] = field(default_factory=set)
    cycles: dict[str, dict[str, str]] = field(default_factory=dict)  # mission -> task key -> cycle
    wakes: dict[str, float] = field(default_factory=dict)
    wake_heap: list[tuple[float, str]] = field(default_factory=list)  # (time, task); stale entries skipped
    vouched_by: dict[str, str] = field(default_factory=dict)  # task -> the node vouching for its lease
    by_node: dict[str, set[str]] = field(default_factory=dict)  # node -> the tasks whose lease it vouches for
    inconsistent: dict[str, tuple[Reason, str]] = field(default_factory=dict)
    held: dict[str, tuple[Reason, str]] = field(default_factory=dict)
    invalid: frozenset[str] = frozenset()
    approved: dict[str, str] = field(default_factory=dict)
    run_approved: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    last_plan: frozenset[str] = frozenset()

    def put(self, key: str, task: Task | None) -> None:
        old = self.tasks.pop(key, None)
        mission = TaskKey(key).mission
        if old is not None:
            for need in old.needs:
                self.needed_by.get(TaskKey.of(mission, need), set()).discard(key)
        self.scoped.discard(key)
        if task is None:
            self.by_mission.get(mission, set()).discard(key)
            return
        self.tasks[key] = task
        self.by_mission.setdefault(mission, set()).add(key)
        for need in task.needs:
            self.needed_by.setdefault(TaskKey.of(mission, need), set()).add(key)
        if task.paths:
            self.scoped.add(key)

    def set_wakes(self, keys: Iterable[str], wakes: Mapping[str, float]) -> None:
        """The decided `keys`' wake-up times become `wakes`'s."""
        for key in keys:
            self.wakes.pop(key, None)
        self.wakes.update(wakes)
        if len(self.wake_heap) > 2 * len(self.wakes) + 64:  # mostly stale: build it again
            self.wake_heap = [(at, key) for key, at in self.wakes.items()]
            heapq.heapify(self.wake_heap)
        else:
            for key, at in wakes.items():
                heapq.heappush(self.wake_heap, (at, key))

    def due(self, now: float) -> set[str]:
        """The tasks whose wake-up time has come (taken off the heap: they are decided now)."""
        out: set[str] = set()
        heap = self.wake_heap
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            if self.wakes.get(key) == at:
                out.add(key)
        return out

    def next_wake(self) -> float | None:
        heap = self.wake_heap
        while heap and self.wakes.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def vouch(self, keys: Iterable[str], leases: Mapping[str, Lease]) -> None:
        """Note which node vouches for each decided task's lease (a node's records change only
        the expiry of the leases it vouches for, `vocabulary.nodes.lease_expiry`)."""
        for key in keys:
            lease = leases.get(key)
            node = lease.node if lease is not None and lease.vouched and lease.state is LeaseState.ACTIVE else None
            old = self.vouched_by.get(key)
            if old == node:
                continue
            if old is not None:
                self.by_node[old].discard(key)
                del self.vouched_by[key]
            if node is not None:
                self.vouched_by[key] = node
                self.by_node.setdefault(node, set()).add(key)

    def all_cycles(self) -> dict[str, str]:
        return {k: c for cycles in self.cycles.values() for k, c in cycles.items()}

    def recycle(self, desired: DesiredState, mission: str) -> set[str]:
        """Find the mission's cycles again; the tasks whose cycle changed."""
        ms = desired.missions.get(mission)
        members = cycle_members({n: t.needs for n, t in ms.tasks.items()}) if ms is not None else {}
        new: dict[str, str] = {TaskKey.of(mission, m): c for m, c in members.items()}
        old = self.cycles.get(mission, {})
        self.cycles[mission] = new
        return {k for k in set(old) | set(new) if old.get(k) != new.get(k)}


def _differ(a: Mapping[str, object], b: Mapping[str, object]) -> set[str]:
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


class IncrementalDecider:
    """`decide`, over the tasks whose decision could have changed since the last call."""

    def __init__(self) -> None:
        self._derived: _Derived | None = None

    def decide(
        self,
        desired: DesiredState,
        specs: Mapping[str, str],
        statuses: Mapping[str, TaskStatus],
        leases: Mapping[str, Lease],
        now: float,
        invalid: frozenset[str] = frozenset(),
        held: Mapping[str, tuple[Reason, str]] | None = None,
        nodes: Mapping[str, NodeRecord] | None = None,
        approved: Mapping[str, str] | None = None,
        run_approved: Mapping[str, str] | None = None,
        changes: Changes | None = None,
    ) -> Plan:
        held, nodes = dict(held or {}), dict(nodes or {})
        approved, run_approved = dict(approved or {}), dict(run_approved or {})
        try:  # due wake-ups come off the heap as they are read: on any failure, decide everything next time
            d = self._derived
            if d is None or changes is None:
                d = self._derived = _Derived()
                for t in desired.tasks():
                    d.put(t.key, t)
                for mission in desired.missions:
                    d.recycle(desired, mission)
                keys: set[str] = set(d.tasks) | set(statuses)
            else:
                keys = self._affected(d, desired, statuses, now, changes, held, invalid, nodes, approved, run_approved)
            scope = Scope(
                frozenset(keys),
                d.tasks,
                d.all_cycles(),
                frozenset(d.scoped),
                {k: v for k, v in d.inconsistent.items() if k not in keys},
            )
            decider = Decider(
                desired, specs, statuses, leases, now, invalid, held, nodes, approved, run_approved, scope
            )
            plan = decider.run()
        except BaseException:
            self._derived = None
            raise
        for key in keys:
            d.inconsistent.pop(key, None)
        d.set_wakes(keys, decider.wakes)
        d.vouch(keys, leases)
        d.inconsistent.update(decider.inconsistent_found)
        plan.wake_at = d.next_wake()
        d.held, d.invalid, d.nodes, d.approved, d.run_approved = held, invalid, nodes, approved, run_approved
        d.last_plan = frozenset(plan.statuses) | {c.key for c in plan.lease_actions}
        return plan

    def _affected(
        self,
        d: _Derived,
        desired: DesiredState,
        statuses: Mapping[str, TaskStatus],
        now: float,
        changes: Changes,
        held: dict[str, tuple[Reason, str]],
        invalid: frozenset[str],
        nodes: dict[str, NodeRecord],
        approved: dict[str, str],
        run_approved: dict[str, str],
    ) -> set[str]:
        """Every task whose decision could differ from the last pass's (see the module's doc)."""
        redeclared = set(changes.tasks)
        for mission in changes.missions:
            ms = desired.missions.get(mission)
            redeclared |= d.by_mission.get(mission, set())
            redeclared |= {TaskKey.of(mission, n) for n in (ms.tasks if ms is not None else {})}
        keys = set(redeclared) | d.last_plan
        unscoped = d.scoped & redeclared  # a task removed, or its paths dropped, frees its scope too
        for key in redeclared:
            k = TaskKey(key)
            ms = desired.missions.get(k.mission)
            before, task = d.tasks.get(key), ms.tasks.get(k.name) if ms is not None else None
            d.put(key, task)
            if _may_change_cycles(d, key, before, task):
                keys |= d.recycle(desired, k.mission)
        keys |= _differ(held, d.held) | (invalid ^ d.invalid)
        keys |= _differ(approved, d.approved) | _differ(run_approved, d.run_approved)
        for node in _differ(nodes, d.nodes):
            keys |= d.by_node.get(node, set())
        keys |= d.due(now)
        keys = _dependents(d, keys)
        if unscoped or keys & d.scoped:  # admission into path scopes goes by priority over all of them
            pending = {k for k in d.scoped if (st := statuses.get(k)) is not None and st.phase == Phase.PENDING}
            keys = _dependents(d, keys | pending)
        for mission, ms in desired.missions.items():
            if ms.mission is not None and ms.mission.spend_cap and keys & d.by_mission.get(mission, set()):
                keys |= d.by_mission[mission]  # one task's spend holds or frees them all
        return keys


def _may_change_cycles(d: _Derived, key: str, before: Task | None, task: Task | None) -> bool:
    """Whether the mission's cycles must be found again after `key` changed from `before` to
    `task`: its edges changed, and the mission has cycles (how one is written depends on where
    the search entered it) or the task could close one (it needs one and one needs it)."""
    if (before is None) == (task is None) and (before.needs if before else ()) == (task.needs if task else ()):
        return False
    if d.cycles.get(TaskKey(key).mission):
        return True
    return task is not None and bool(task.needs) and bool(d.needed_by.get(key))


def _dependents(d: _Derived, keys: Iterable[str]) -> set[str]:
    """`keys` and every task that needs one of them, transitively."""
    out = set(keys)
    todo = list(out)
    while todo:
        for dependent in d.needed_by.get(todo.pop(), ()):
            if dependent not in out:
                out.add(dependent)
                todo.append(dependent)
    return out
