"""The decision step of a reconcile pass: (desired, observed, now) -> plan. Pure: no Git, no I/O.

Given the manifests on `main`, the status chain, the tip of each task's lease chain and the
time, it returns the new status of every task that changes, the transitions (each checked by
`phases.check_transition`), the leases to expire or revoke, and when to wake up next.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.governance.rules import rules_for
from reconciler.manifests.desired import DesiredState
from reconciler.manifests.globs import ScopeIndex
from reconciler.manifests.graph import cycle_members
from reconciler.manifests.model import Task
from reconciler.manifests.outputs import output_error
from reconciler.vocabulary.conditions import ConditionType, Reason
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import PolicyAction
from reconciler.vocabulary.leases import Lease, LeaseAction, LeaseState
from reconciler.vocabulary.nodes import NodeRecord, lease_expiry
from reconciler.vocabulary.phases import HELD, TERMINAL, Phase, check_transition
from reconciler.vocabulary.spend import Spend
from reconciler.vocabulary.status import HISTORY_LIMIT, Event, TaskStatus
from reconciler.vocabulary.trailers import RECONCILER

OCCUPYING = (Phase.QUEUED, Phase.LEASED, Phase.RUNNING)
DEAD_ENDS = (Phase.FAILED, Phase.BLOCKED, Phase.CANCELLED)


@dataclass(frozen=True, slots=True)
class Transition:
    key: str
    source: Phase | None
    target: Phase
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.source or 'new'} -> {self.target} ({self.reason})"


@dataclass(frozen=True, slots=True)
class LeaseChange:
    """A lease to end: EXPIRE or REVOKE a live one; FENCE a chain with no live lease (`lease` is
    its tip, or None) at `generation`, so that no claim from an older queue can land on it."""

    key: str
    action: LeaseAction
    lease: Lease | None
    generation: int = 0


@dataclass(slots=True)
class Plan:
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    lease_actions: list[LeaseChange] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # tasks held where they are, and why
    wake_at: float | None = None

    def wake(self, at: float) -> None:
        self.wake_at = at if self.wake_at is None else min(self.wake_at, at)


@dataclass(frozen=True, slots=True)
class Scope:
    """What an incremental pass looks at (`control.incremental`): the tasks whose inputs may
    have changed (`keys`), and what a full pass would derive from every task, kept up to date
    by the caller: the declared tasks, the dependency cycles, the tasks that declare paths, and
    the inconsistent statuses found before among the tasks not in `keys`."""

    keys: frozenset[str]
    tasks: Mapping[str, Task]
    cycles: Mapping[str, str]
    scoped: frozenset[str]
    inconsistent: Mapping[str, tuple[Reason, str]]


class Decider:
    def __init__(
        self,
        desired: DesiredState,
        specs: Mapping[str, str],
        statuses: Mapping[str, TaskStatus],
        leases: Mapping[str, Lease],
        now: float,
        invalid: frozenset[str],
        held: Mapping[str, tuple[Reason, str]],
        nodes: Mapping[str, NodeRecord],
        approved: Mapping[str, str],
        run_approved: Mapping[str, str],
        scope: Scope | None = None,
    ) -> None:
        self.nodes = nodes
        self.approved = approved
        self.run_approved = run_approved
        self.invalid = invalid
        self.held: dict[str, tuple[Reason, str]] = dict(held)
        self.desired = desired
        self.scope = scope
        if scope is None:
            self.tasks: Mapping[str, Task] = {t.key: t for t in desired.tasks()}
            self.cycles: Mapping[str, str] = all_cycles(desired)
            self.scoped: Collection[str] = [k for k, t in self.tasks.items() if t.paths]
        else:
            self.tasks, self.cycles, self.scoped = scope.tasks, scope.cycles, scope.scoped
            self.held.update({k: v for k, v in scope.inconsistent.items() if k not in self.held})
        self.specs = specs
        self.old = statuses
        self.leases = leases
        self.now = now
        self.plan = Plan()
        self.spent: dict[str, Spend] = {}
        self.charged: set[str] = set()  # tasks whose attempt's spend this pass added to the status
        self.wakes: dict[str, float] = {}  # when each task looked at needs a pass again
        self.inconsistent_found: dict[str, tuple[Reason, str]] = {}

    # -- what this pass looks at ------------------------------------------------------------
    def old_keys(self) -> Iterable[str]:
        """The tasks with a status to look at: all of them, or those of the scope."""
        if self.scope is None:
            return list(self.old)
        return [k for k in self.scope.keys if k in self.old]

    def task_keys(self) -> Iterable[str]:
        """The declared tasks to look at: all of them, or those of the scope."""
        if self.scope is None:
            return list(self.tasks)
        return [k for k in self.scope.keys if k in self.tasks]

    def wake(self, key: str, at: float) -> None:
        """The task needs a pass again at `at` (a lease's expiry, a backoff's end)."""
        self.wakes[key] = min(self.wakes.get(key, at), at)

    # -- status bookkeeping -------------------------------------------------------------
    def status(self, key: str) -> TaskStatus | None:
        if key in self.plan.statuses:
            return self.plan.statuses[key]
        return self.old.get(key)

    def edit(self, key: str) -> TaskStatus:
        """A private copy of a status, registered as changed."""
        if key not in self.plan.statuses:
            self.plan.statuses[key] = copy.deepcopy(self.old[key])
        return self.plan.statuses[key]

    def move(self, key: str, target: Phase, reason: str) -> TaskStatus:
        st = self.edit(key)
        check_transition(st.phase, target)
        if st.phase == Phase.QUEUED:
            self.wakes.pop(key, None)  # a backoff's end matters only to a task still Queued
        self.plan.transitions.append(Transition(key, st.phase, target, reason))
        st.history = [*st.history, Event(self.now, str(st.phase), str(target), reason, st.generation)][-HISTORY_LIMIT:]
        st.phase, st.last_transition, st.message = target, self.now, reason
        if target not in (Phase.PENDING, Phase.QUEUED):
            st.clear_condition(ConditionType.READY)  # readiness only describes a task waiting to run
        return st

    def condition(self, key: str, type_: ConditionType, status: bool, reason: Reason, message: str) -> None:
        current = self.status(key)
        assert current is not None
        old = current.condition(type_)
        if old is None or (old.status, old.reason, old.message) != (status, reason, message):
            self.edit(key).set_condition(type_, status, reason, message, self.now)

    def drop_condition(self, key: str, type_: ConditionType) -> None:
        current = self.status(key)
        if current is not None and current.condition(type_) is not None:
            self.edit(key).clear_condition(type_)

    # -- the rules ------------------------------------------------------------------------
    def inconsistent(self) -> None:
        """Hold every task whose status contradicts its lease chain (a hand-edited status, a
        lease chain rewritten): such a status is reported, never believed."""
        for key in self.old_keys():
            if key in self.held:
                continue
            why = _contradiction(self.old[key], self.leases.get(key))
            if why is not None:
                self.held[key] = self.inconsistent_found[key] = (Reason.INCONSISTENT_STATUS, why)

    def report_held(self) -> None:
        for key in self.old_keys():
            if key in self.held:
                reason, message = self.held[key]
                self.condition(key, ConditionType.OBSERVED_STATE_VALID, False, reason, message)
            else:
                self.drop_condition(key, ConditionType.OBSERVED_STATE_VALID)

    def removed(self) -> None:
        for key in self.old_keys():
            st = self.old[key]
            if key in self.held:
                continue
            if key in self.invalid:
                self.condition(
                    key,
                    ConditionType.MANIFEST_VALID,
                    False,
                    Reason.INVALID_MANIFEST,
                    "its manifest on main does not validate; run mc validate",
                )
                continue
            if key in self.tasks or st.phase in TERMINAL:
                continue
            lease = self.leases.get(key)
            # >=: a lease granted since the last pass (not yet seen as Leased) is revoked too
            if lease is not None and lease.state is LeaseState.ACTIVE and lease.generation >= st.generation:
                self.plan.lease_actions.append(LeaseChange(key, LeaseAction.REVOKE, lease))
            if lease is not None and _unobserved_attempt(st, lease):
                self.charge(key, lease)  # revoked now, or ended since the last pass: its spend stays
            cancelled = self.move(key, Phase.CANCELLED, "removed from desired state")
            cancelled.holder, cancelled.attempts = None, cancelled.failures  # an interrupted attempt is not used
            if lease is not None and lease.generation > cancelled.generation:
                cancelled.generation = lease.generation  # never replay that lease after a re-declaration

    def declared(self) -> None:
        for key in self.task_keys():
            if key in self.held:
                continue
            spec = self.specs.get(key, "")
            if key not in self.old:
                st = TaskStatus(TaskKey(key), Phase.PENDING, self.now, self.now, spec, message="declared")
                self.plan.statuses[key] = st
                self.plan.transitions.append(Transition(key, None, Phase.PENDING, "declared"))
                st.history.append(Event(self.now, None, str(Phase.PENDING), "declared", 0))
                lease = self.leases.get(key)
                if lease is not None:  # the task existed before, under the same name
                    st.generation = lease.generation
            elif self.old[key].phase == Phase.CANCELLED:
                self.move(key, Phase.PENDING, "declared again in desired state").spec = spec
            self.drop_condition(key, ConditionType.MANIFEST_VALID)

    def spec_change(self, key: str, spec: str) -> None:
        st = self.status(key)
        assert st is not None
        if st.spec == spec:
            self.drop_condition(key, ConditionType.SPEC_CHANGED)
        elif st.phase in (Phase.PENDING, Phase.QUEUED, Phase.BLOCKED):
            self.edit(key).spec = spec
            self.drop_condition(key, ConditionType.SPEC_CHANGED)
        else:
            later = (
                "applies to the next attempt" if st.phase not in TERMINAL else "is not applied: the task has finished"
            )
            self.condition(
                key,
                ConditionType.SPEC_CHANGED,
                True,
                Reason.changed_while(st.phase),
                f"the spec changed while {st.phase}; the change {later}",
            )

    def fail_or_retry(self, key: str, task: Task, reason: str) -> None:
        st = self.edit(key)
        st.failures += 1
        st.attempts = st.failures
        st.holder = st.node = None
        if st.failures < task.retries.max_attempts:
            delay = task.retries.backoff(st.failures)
            st.not_before = self.now + delay
            self.move(
                key,
                Phase.QUEUED,
                f"{reason}; attempt {st.failures + 1} of {task.retries.max_attempts} after {delay:g}s",
            )
            self.wake(key, st.not_before)
        else:
            self.move(key, Phase.FAILED, f"{reason}; no attempts left ({st.failures} of {task.retries.max_attempts})")

    def result(self, key: str, task: Task, lease: Lease) -> None:
        error = output_error(task.outputs_schema, lease.outputs or {})
        if error is not None:
            self.fail_or_retry(key, task, f"outputs do not match the output schema {error}")
            return
        st = self.edit(key)
        st.outputs, st.result_commit, st.holder = lease.outputs, lease.result_commit, None
        if task.approval_policy is not None:
            self.move(
                key,
                Phase.AWAITING_APPROVAL,
                f"result {str(lease.result_commit)[:12]} awaits approval under policy {task.approval_policy}",
            )
        else:
            self.move(key, Phase.SUCCEEDED, f"result {str(lease.result_commit)[:12]} accepted")

    def gate_opened(self, key: str) -> None:
        """A result awaiting approval whose publish gate is open (for exactly that result) succeeds."""
        st = self.status(key)
        if st is None or st.phase != Phase.AWAITING_APPROVAL or st.result_commit is None:
            return
        if self.approved.get(key) == st.result_commit:
            self.move(key, Phase.SUCCEEDED, f"approvals verified for result {st.result_commit[:12]}")

    def fence_unqueued(self) -> None:
        """Close the lease chain of every task that leaves Queued other than by a grant.

        It was claimable in the last queue: a claim that read that queue could still land. A
        commit at a generation above any granted, by CAS on the tip this pass read, makes such
        a claim either fail or (landing first) make this pass retry and see it."""
        acted = {change.key for change in self.plan.lease_actions}
        for key, new in self.plan.statuses.items():
            old = self.old.get(key)
            if old is None or old.phase != Phase.QUEUED or new.phase == Phase.QUEUED or key in acted:
                continue
            if new.generation > old.generation:  # it left Queued by a grant this pass observed
                continue
            lease = self.leases.get(key)
            fence = max(new.generation, lease.generation if lease else 0) + 1
            self.plan.lease_actions.append(LeaseChange(key, LeaseAction.FENCE, lease, fence))
            new.generation = fence

    def observe_lease(self, key: str) -> None:
        st, task, lease = self.status(key), self.tasks.get(key), self.leases.get(key)
        if st is None or task is None or lease is None:
            return
        if st.phase == Phase.QUEUED and lease.generation > st.generation and is_fence(lease):
            self.edit(key).generation = lease.generation  # a fence whose pass died before its status
            return
        if st.phase == Phase.QUEUED and lease.generation > st.generation:
            st = self.edit(key)
            st.generation, st.attempts, st.holder, st.node, st.not_before = (
                lease.generation,
                st.failures + 1,  # the attempt in flight; a release gives it back
                lease.agent,
                lease.node,
                None,
            )
            self.move(
                key,
                Phase.LEASED,
                f"lease generation {lease.generation} granted to {lease.agent}"
                + (f" on {lease.node}" if lease.node else ""),
            )
        if st.phase not in (Phase.LEASED, Phase.RUNNING) or lease.generation != st.generation:
            return
        if st.phase == Phase.LEASED and (
            lease.started_at is not None or lease.state in (LeaseState.COMPLETED, LeaseState.FAILED)
        ):
            self.move(key, Phase.RUNNING, "agent started")
        expires = lease_expiry(lease, self.nodes)
        if lease.state is LeaseState.ACTIVE and self.now < expires:
            self.wake(key, expires)
            return
        self.charge(key, lease)  # the attempt has ended: its spend joins the task's
        if lease.state in (LeaseState.ACTIVE, LeaseState.EXPIRED):
            if lease.state is LeaseState.ACTIVE:
                self.plan.lease_actions.append(LeaseChange(key, LeaseAction.EXPIRE, lease))
            self.move(key, Phase.EXPIRED, f"lease generation {lease.generation} not renewed before expiry")
        elif lease.state is LeaseState.COMPLETED:
            self.result(key, task, lease)
        elif lease.state is LeaseState.FAILED:
            self.fail_or_retry(key, task, f"attempt {st.attempts} failed: {lease.reason or 'no reason given'}")
        elif lease.state in (LeaseState.RELEASED, LeaseState.REVOKED):
            given_back = self.edit(key)
            given_back.holder, given_back.attempts = None, given_back.failures  # not an attempt used
            self.move(
                key,
                Phase.QUEUED,
                f"lease generation {lease.generation} {lease.state}" + (f": {lease.reason}" if lease.reason else ""),
            )
        st = self.status(key)
        if st is not None and st.phase == Phase.EXPIRED:
            self.fail_or_retry(key, task, f"attempt {st.attempts} expired")

    def charge(self, key: str, lease: Lease) -> None:
        """Add an ended attempt's spend to its task's (once: `mission_spend` then skips the lease)."""
        self.charged.add(key)
        if lease.spend:
            st = self.edit(key)
            st.spend = st.spend + lease.spend

    def mission_spend(self) -> dict[str, Spend]:
        """Each mission's spend: its tasks' ended attempts, plus what the live leases report."""
        spent: dict[str, Spend] = {}
        for key, st in {**self.old, **self.plan.statuses}.items():
            total = st.spend
            lease = self.leases.get(key)
            live = lease is not None and lease.state is LeaseState.ACTIVE and lease.generation >= st.generation
            if live and lease is not None and key not in self.charged:
                total = total + lease.spend
            if total:
                spent[st.mission] = spent.get(st.mission, Spend()) + total
        return spent

    def held_scopes(self) -> ScopeIndex:
        """The path scopes of the tasks that hold theirs (Queued, Leased, Running)."""
        out = ScopeIndex()
        for key in sorted(self.scoped):  # by key: which holder a message names must not depend on order
            st, task = self.status(key), self.tasks[key]
            if st is not None and st.phase in OCCUPYING:
                out.add(key, task.paths)
        return out

    def hold_reason(self, key: str, task: Task) -> tuple[Reason, str] | None:
        """Why a task whose dependencies are met may not be queued yet, or None."""
        ms = self.desired.missions[task.mission or ""]
        if task.suspend or (ms.mission is not None and ms.mission.suspend):
            return Reason.SUSPENDED, "the task or its mission is suspended"
        if ms.mission is not None and ms.mission.spend_cap:
            used = ms.mission.spend_cap.reached_by(self.spent.get(task.mission or "", Spend()))
            if used:
                return Reason.SPEND_CAP_REACHED, f"mission {task.mission} has used its spend cap ({used})"
        kluster = ms.klusters.get(task.kluster)
        if kluster is not None and kluster.archived:
            return Reason.ARCHIVED, f"kluster {task.kluster} is archived"
        gates = rules_for(ms.policies.values(), task, PolicyAction.RUN)
        if gates and self.run_approved.get(task.key) != self.specs.get(task.key):
            policy, rule = gates[0]
            return Reason.RUN_APPROVAL_REQUIRED, f"policy {policy.name} rule {rule.name} requires approval to run"
        return None

    def doomed(self, key: str, memo: dict[str, bool]) -> bool:
        """The task cannot succeed any more: it failed, was cancelled, or (transitively) needs one
        that cannot. A search over what it needs, so that cycles (which validation refuses, but
        main may hold) give the same answer whatever task the search starts from."""
        if key in memo:
            return memo[key]
        seen, todo = {key}, [key]
        while todo:
            k = todo.pop()
            if k in memo:
                if memo[k]:
                    memo[key] = True
                    return True
                continue
            st, task = self.status(k), self.tasks.get(k)
            if k in self.held:  # its observed state cannot be trusted: it waits, it is not doomed
                continue
            if st is None or task is None or st.phase not in (Phase.PENDING, Phase.QUEUED, Phase.BLOCKED):
                # gone, frozen (invalid manifest), started or finished: its phase says it all
                if st is None or st.phase in DEAD_ENDS:
                    memo[key] = True
                    return True
                continue
            for need in task.needs:
                n = TaskKey.of(task.mission or "", need)
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        for k in seen:  # the search was complete: nothing any of them needs is doomed
            memo[k] = False
        return False

    def needs(self, task: Task) -> dict[str, TaskStatus | None]:
        """The status of each need; None for one that is unknown or held (it is not met)."""
        keys = {n: TaskKey.of(task.mission or "", n) for n in task.needs}
        return {n: None if k in self.held else self.status(k) for n, k in keys.items()}

    def schedule(self) -> None:
        """Blocked, Pending and Queued tasks: dependencies, holds, and path-scope admission.

        Two sweeps, so that one pass reaches a fixed point whatever the order of the tasks:
        first every task that must be blocked, unblocked or sent back to Pending is (blocking
        is transitive), then Pending tasks are admitted by priority and age into the path
        scopes that are still held.
        """
        capped = any(ms.mission is not None and ms.mission.spend_cap for ms in self.desired.missions.values())
        self.spent = self.mission_spend() if capped else {}
        keys = self.task_keys()
        self.block_and_unblock(keys)
        self.admit(keys)

    def block_and_unblock(self, keys: Iterable[str]) -> None:
        """The first sweep of `schedule`: blocked, unblocked, or back to Pending."""
        memo: dict[str, bool] = {}
        for key in keys:
            task, st = self.tasks[key], self.status(key)
            if key in self.held or st is None:
                continue
            dead = sorted(n for n in task.needs if self.doomed(TaskKey.of(task.mission or "", n), memo))
            if st.phase == Phase.BLOCKED and not dead:
                st = self.move(key, Phase.PENDING, "no dependency has failed any more")
            if st.phase in (Phase.PENDING, Phase.QUEUED) and dead:
                self.move(key, Phase.BLOCKED, f"dependency {', '.join(dead)} cannot succeed")
                continue
            if st.phase == Phase.QUEUED:
                met = all(s is not None and s.phase == Phase.SUCCEEDED for s in self.needs(task).values())
                hold = self.hold_reason(key, task)
                if not met or hold:
                    self.move(key, Phase.PENDING, hold[1] if hold else "dependencies are no longer met")

    def admit(self, keys: Iterable[str]) -> None:
        """The second sweep of `schedule`: Pending tasks queued by priority and age."""
        held = self.held_scopes()
        active = {k: self.tasks[k] for k in keys if k not in self.held and self.status(k) is not None}
        overlapping: list[tuple[str, Task]] = []
        order = sorted(active.items(), key=lambda kv: (-kv[1].priority, self.status(kv[0]).created, kv[0]))  # type: ignore[union-attr]
        for key, task in order:
            st = self.status(key)
            assert st is not None
            if st.phase == Phase.QUEUED and st.not_before is not None and st.not_before > self.now:
                self.wake(key, st.not_before)
            if st.phase != Phase.PENDING:
                continue
            if key in self.cycles:
                self.condition(
                    key,
                    ConditionType.READY,
                    False,
                    Reason.DEPENDENCY_CYCLE,
                    f"dependency cycle {self.cycles[key]}: it can never start; fix spec.needs (mc validate)",
                )
                continue
            needs = self.needs(task)
            if not all(s is not None and s.phase == Phase.SUCCEEDED for s in needs.values()):
                waiting = sorted(
                    n
                    for n, s in needs.items()
                    if (s is not None and s.phase != Phase.SUCCEEDED) or TaskKey.of(task.mission or "", n) in self.held
                )
                self.condition(
                    key,
                    ConditionType.READY,
                    False,
                    Reason.WAITING_FOR_DEPENDENCIES,
                    "waiting for " + ", ".join(waiting),
                )
                continue
            hold = self.hold_reason(key, task)
            if hold:
                self.condition(key, ConditionType.READY, False, *hold)
                continue
            if held.first_overlap(task.paths, exclude=key) is not None:
                overlapping.append((key, task))
                continue
            queued = self.move(key, Phase.QUEUED, "dependencies met" if task.needs else "ready")
            self.condition(key, ConditionType.READY, True, Reason.QUEUED, "ready to be claimed")
            if queued.not_before is not None and queued.not_before > self.now:
                self.wake(key, queued.not_before)  # a backoff still running from before a cancellation
            if task.paths:
                held.add(key, task.paths)
        for key, task in overlapping:  # named after admission: the holder the next pass would name too
            clash = held.first_overlap(task.paths, exclude=key)
            self.condition(
                key,
                ConditionType.READY,
                False,
                Reason.SCOPE_OVERLAP,
                f"its paths overlap those of {clash}, which holds them",
            )

    def run(self) -> Plan:
        self.inconsistent()
        self.report_held()
        self.removed()
        self.declared()
        for key in sorted(self.task_keys()):
            if key in self.held:
                continue
            self.observe_lease(key)
            self.gate_opened(key)
            # after the lease: a spec change applies to a task that is (again) waiting for its
            # next attempt, and is reported against the phase the task is now in
            self.spec_change(key, self.specs.get(key, ""))
        self.schedule()
        self.fence_unqueued()
        self.plan.held = {key: message for key, (_, message) in sorted(self.held.items())}
        for at in self.wakes.values():
            self.plan.wake(at)
        return self.plan


def decide(
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
) -> Plan:
    """Pure: what should change, given desired state, observed state and the time.

    `invalid` names tasks whose manifest exists but does not validate: they are frozen, not
    cancelled, so that a typo on main never revokes running work. `held` names tasks whose
    observed state cannot be read or acted on (a corrupt lease or status, a locked lease ref),
    with the reason: they stay where they are, get `ObservedStateValid=False` where their status
    can be written, and are not met for their dependents. A status that contradicts its lease
    chain is held the same way (`InconsistentStatus`). `nodes` are the mesh nodes' records: a
    lease a node vouches for lives as long as that node's heartbeat (`vocabulary.nodes`).
    `approved` maps a task to the result commit whose publish gate is open (verified outside,
    from Git: `control.gates`): a result awaiting approval succeeds only if it is that commit.
    `run_approved` maps a task to the manifest (spec blob) whose `run` gate is open: a task a run
    rule governs is queued only while its manifest is exactly that one.
    """
    return Decider(
        desired, specs, statuses, leases, now, invalid, held or {}, nodes or {}, approved or {}, run_approved or {}
    ).run()


def all_cycles(desired: DesiredState) -> dict[str, str]:
    """Each task in a dependency cycle -> the cycle, over every mission."""
    return {
        TaskKey.of(name, member): cycle
        for name, ms in desired.missions.items()
        for member, cycle in cycle_members({n: t.needs for n, t in ms.tasks.items()}).items()
    }


def is_fence(lease: Lease) -> bool:
    """A chain closed by the reconciler (no agent ever held that generation)."""
    return lease.state is LeaseState.REVOKED and lease.agent == RECONCILER


def _unobserved_attempt(st: TaskStatus, lease: Lease) -> bool:
    """Whether `lease` is an agent's attempt whose spend the status has not counted yet: granted
    since the last pass, or the attempt in flight (ended or not)."""
    if is_fence(lease):
        return False
    return lease.generation > st.generation or (lease.generation == st.generation and st.phase in HELD)


def _contradiction(st: TaskStatus, lease: Lease | None) -> str | None:
    """Why `st` cannot be true given its lease chain's tip, or None if it can."""
    if st.phase in HELD and (lease is None or lease.generation < st.generation):
        have = f"generation {lease.generation}" if lease else "no lease"
        return f"the status says {st.phase} under lease generation {st.generation}, but the lease chain has {have}"
    if st.phase in (Phase.SUCCEEDED, Phase.AWAITING_APPROVAL):
        if lease is None or lease.generation != st.generation:
            have = f"is at generation {lease.generation}" if lease else "does not exist"
            return f"the status says {st.phase} with generation {st.generation}, but its lease chain {have}"
        if lease.state is not LeaseState.COMPLETED or lease.result_commit != st.result_commit:
            return (
                f"the status says {st.phase} with result {str(st.result_commit)[:12]}, but lease generation "
                f"{lease.generation} is {lease.state} with result {str(lease.result_commit)[:12]}"
            )
    return None
