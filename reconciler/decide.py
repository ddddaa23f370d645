"""The decision step of a reconcile pass: (desired, observed, now) -> plan. Pure: no Git, no I/O.

Given the manifests on `main`, the status chain, the tip of each task's lease chain and the
time, it returns the new status of every task that changes, the transitions (each checked by
`phases.check_transition`), the leases to expire or revoke, and when to wake up next.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import jsonschema

from reconciler.desired import DesiredState
from reconciler.globs import scopes_overlap
from reconciler.governance import rules_for
from reconciler.leases import ACTIVE, Lease
from reconciler.model import Task
from reconciler.phases import TERMINAL, Phase, check_transition
from reconciler.status import HISTORY_LIMIT, Event, TaskStatus

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
class LeaseAction:
    key: str
    action: str  # "expire" or "revoke"
    lease: Lease


@dataclass(slots=True)
class Plan:
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    lease_actions: list[LeaseAction] = field(default_factory=list)
    wake_at: float | None = None

    def wake(self, at: float) -> None:
        self.wake_at = at if self.wake_at is None else min(self.wake_at, at)


class _Decider:
    def __init__(
        self,
        desired: DesiredState,
        specs: Mapping[str, str],
        statuses: Mapping[str, TaskStatus],
        leases: Mapping[str, Lease],
        now: float,
        invalid: frozenset[str],
    ) -> None:
        self.invalid = invalid
        self.desired = desired
        self.tasks: dict[str, Task] = {f"{t.mission}/{t.name}": t for t in desired.tasks()}
        self.specs = specs
        self.old = statuses
        self.leases = leases
        self.now = now
        self.plan = Plan()

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
        self.plan.transitions.append(Transition(key, st.phase, target, reason))
        st.history = [*st.history, Event(self.now, str(st.phase), str(target), reason, st.generation)][-HISTORY_LIMIT:]
        st.phase, st.last_transition, st.message = target, self.now, reason
        if target not in (Phase.PENDING, Phase.QUEUED):
            st.clear_condition("Ready")  # readiness only describes a task waiting to run
        return st

    def condition(self, key: str, type_: str, status: bool, reason: str, message: str) -> None:
        current = self.status(key)
        assert current is not None
        old = current.condition(type_)
        if old is None or (old.status, old.reason, old.message) != (status, reason, message):
            self.edit(key).set_condition(type_, status, reason, message, self.now)

    def drop_condition(self, key: str, type_: str) -> None:
        current = self.status(key)
        if current is not None and current.condition(type_) is not None:
            self.edit(key).clear_condition(type_)

    # -- the rules ------------------------------------------------------------------------
    def removed(self) -> None:
        for key, st in self.old.items():
            if key in self.invalid:
                self.condition(
                    key,
                    "ManifestValid",
                    False,
                    "InvalidManifest",
                    "its manifest on main does not validate; run mc validate",
                )
                continue
            if key in self.tasks or st.phase in TERMINAL:
                continue
            lease = self.leases.get(key)
            # >=: a lease granted since the last pass (not yet seen as Leased) is revoked too
            if lease is not None and lease.state == ACTIVE and lease.generation >= st.generation:
                self.plan.lease_actions.append(LeaseAction(key, "revoke", lease))
            cancelled = self.move(key, Phase.CANCELLED, "removed from desired state")
            cancelled.holder = None
            if lease is not None and lease.generation > cancelled.generation:
                cancelled.generation = lease.generation  # never replay that lease after a re-declaration

    def declared(self) -> None:
        for key, _task in self.tasks.items():
            spec = self.specs.get(key, "")
            if key not in self.old:
                st = TaskStatus(key, Phase.PENDING, self.now, self.now, spec, message="declared")
                self.plan.statuses[key] = st
                self.plan.transitions.append(Transition(key, None, Phase.PENDING, "declared"))
                st.history.append(Event(self.now, None, str(Phase.PENDING), "declared", 0))
                lease = self.leases.get(key)
                if lease is not None:  # the task existed before, under the same name
                    st.generation = lease.generation
            elif self.old[key].phase == Phase.CANCELLED:
                self.move(key, Phase.PENDING, "declared again in desired state").spec = spec
            self.drop_condition(key, "ManifestValid")

    def spec_change(self, key: str, spec: str) -> None:
        st = self.status(key)
        assert st is not None
        if st.spec == spec:
            self.drop_condition(key, "SpecChanged")
        elif st.phase in (Phase.PENDING, Phase.QUEUED, Phase.BLOCKED):
            self.edit(key).spec = spec
            self.drop_condition(key, "SpecChanged")
        else:
            later = (
                "applies to the next attempt" if st.phase not in TERMINAL else "is not applied: the task has finished"
            )
            self.condition(
                key,
                "SpecChanged",
                True,
                "ChangedWhile" + str(st.phase),
                f"the spec changed while {st.phase}; the change {later}",
            )

    def fail_or_retry(self, key: str, task: Task, reason: str) -> None:
        st = self.edit(key)
        st.failures += 1
        st.holder = st.node = None
        if st.failures < task.retries.max_attempts:
            delay = task.retries.backoff(st.failures)
            st.not_before = self.now + delay
            self.move(
                key, Phase.QUEUED, f"{reason}; retry {st.failures + 1} of {task.retries.max_attempts} after {delay:g}s"
            )
            self.plan.wake(st.not_before)
        else:
            self.move(key, Phase.FAILED, f"{reason}; no attempts left ({st.failures} of {task.retries.max_attempts})")

    def result(self, key: str, task: Task, lease: Lease) -> None:
        if task.outputs_schema is not None:
            errors = sorted(
                jsonschema.Draft202012Validator(task.outputs_schema).iter_errors(lease.outputs or {}), key=str
            )
            if errors:
                self.fail_or_retry(key, task, f"outputs do not match the output schema: {errors[0].message}")
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

    def observe_lease(self, key: str) -> None:
        st, task, lease = self.status(key), self.tasks.get(key), self.leases.get(key)
        if st is None or task is None or lease is None:
            return
        if st.phase == Phase.QUEUED and lease.generation > st.generation:
            st = self.edit(key)
            st.generation, st.attempts, st.holder, st.node, st.not_before = (
                lease.generation,
                st.attempts + 1,
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
        if st.phase == Phase.LEASED and (lease.started_at is not None or lease.state in ("completed", "failed")):
            self.move(key, Phase.RUNNING, "agent started")
        if lease.state == ACTIVE and self.now < lease.expires_at:
            self.plan.wake(lease.expires_at)
        elif lease.state in (ACTIVE, "expired"):
            if lease.state == ACTIVE:
                self.plan.lease_actions.append(LeaseAction(key, "expire", lease))
            self.move(key, Phase.EXPIRED, f"lease generation {lease.generation} not renewed before expiry")
        elif lease.state == "completed":
            self.result(key, task, lease)
        elif lease.state == "failed":
            self.fail_or_retry(key, task, f"attempt {st.attempts} failed: {lease.reason or 'no reason given'}")
        elif lease.state in ("released", "revoked"):
            self.edit(key).holder = None
            self.move(
                key,
                Phase.QUEUED,
                f"lease generation {lease.generation} {lease.state}" + (f": {lease.reason}" if lease.reason else ""),
            )
        st = self.status(key)
        if st is not None and st.phase == Phase.EXPIRED:
            self.fail_or_retry(key, task, f"attempt {st.attempts} expired")

    def held_scopes(self) -> list[tuple[str, tuple[str, ...]]]:
        out = []
        for key, task in self.tasks.items():
            st = self.status(key)
            if st is not None and st.phase in OCCUPYING and task.paths:
                out.append((key, task.paths))
        return out

    def hold_reason(self, key: str, task: Task) -> tuple[str, str] | None:
        """Why a task whose dependencies are met may not be queued yet, or None."""
        ms = self.desired.missions[task.mission or ""]
        if task.suspend or (ms.mission is not None and ms.mission.suspend):
            return "Suspended", "the task or its mission is suspended"
        kluster = ms.klusters.get(task.kluster)
        if kluster is not None and kluster.archived:
            return "Archived", f"kluster {task.kluster} is archived"
        gates = rules_for(ms.policies.values(), task, "run")
        if gates:
            policy, rule = gates[0]
            return "RunApprovalRequired", f"policy {policy.name} rule {rule.name} requires approval to run"
        return None

    def doomed(self, key: str, memo: dict[str, bool], path: frozenset[str] = frozenset()) -> bool:
        """The task cannot succeed any more: it failed, was cancelled, or (transitively) needs one that cannot."""
        if key not in memo:
            st, task = self.status(key), self.tasks.get(key)
            if st is None or task is None or st.phase not in (Phase.PENDING, Phase.QUEUED, Phase.BLOCKED):
                # gone, frozen (invalid manifest), started or finished: its phase says it all
                memo[key] = st is None or st.phase in DEAD_ENDS
            elif key in path:  # a cycle, which validation refuses: it waits, it is not doomed
                return False
            else:
                prefix = key.split("/", 1)[0] + "/"
                memo[key] = any(self.doomed(prefix + n, memo, path | {key}) for n in task.needs)
        return memo[key]

    def needs(self, key: str, task: Task) -> dict[str, TaskStatus | None]:
        prefix = key.split("/", 1)[0] + "/"
        return {n: self.status(prefix + n) for n in task.needs}

    def schedule(self) -> None:
        """Blocked, Pending and Queued tasks: dependencies, holds, and path-scope admission.

        Two sweeps, so that one pass reaches a fixed point whatever the order of the tasks:
        first every task that must be blocked, unblocked or sent back to Pending is (blocking
        is transitive), then Pending tasks are admitted by priority and age into the path
        scopes that are still held.
        """
        memo: dict[str, bool] = {}
        for key, task in self.tasks.items():
            st = self.status(key)
            assert st is not None
            prefix = key.split("/", 1)[0] + "/"
            dead = sorted(n for n in task.needs if self.doomed(prefix + n, memo))
            if st.phase == Phase.BLOCKED and not dead:
                st = self.move(key, Phase.PENDING, "no dependency has failed any more")
            if st.phase in (Phase.PENDING, Phase.QUEUED) and dead:
                self.move(key, Phase.BLOCKED, f"dependency {', '.join(dead)} cannot succeed")
                continue
            if st.phase == Phase.QUEUED:
                met = all(s is not None and s.phase == Phase.SUCCEEDED for s in self.needs(key, task).values())
                hold = self.hold_reason(key, task)
                if not met or hold:
                    self.move(key, Phase.PENDING, hold[1] if hold else "dependencies are no longer met")

        held = self.held_scopes()
        order = sorted(self.tasks.items(), key=lambda kv: (-kv[1].priority, self.status(kv[0]).created, kv[0]))  # type: ignore[union-attr]
        for key, task in order:
            st = self.status(key)
            assert st is not None
            if st.phase == Phase.QUEUED and st.not_before is not None and st.not_before > self.now:
                self.plan.wake(st.not_before)
            if st.phase != Phase.PENDING:
                continue
            needs = self.needs(key, task)
            if not all(s is not None and s.phase == Phase.SUCCEEDED for s in needs.values()):
                waiting = sorted(n for n, s in needs.items() if s is not None and s.phase != Phase.SUCCEEDED)
                self.condition(key, "Ready", False, "WaitingForDependencies", "waiting for " + ", ".join(waiting))
                continue
            hold = self.hold_reason(key, task)
            if hold:
                self.condition(key, "Ready", False, *hold)
                continue
            clash = next((other for other, paths in held if other != key and scopes_overlap(paths, task.paths)), None)
            if clash is not None:
                self.condition(
                    key, "Ready", False, "ScopeOverlap", f"its paths overlap those of {clash}, which holds them"
                )
                continue
            queued = self.move(key, Phase.QUEUED, "dependencies met" if task.needs else "ready")
            self.condition(key, "Ready", True, "Queued", "ready to be claimed")
            if queued.not_before is not None and queued.not_before > self.now:
                self.plan.wake(queued.not_before)  # a backoff still running from before a cancellation
            if task.paths:
                held.append((key, task.paths))

    def run(self) -> Plan:
        self.removed()
        self.declared()
        for key in sorted(self.tasks):
            self.observe_lease(key)
            # after the lease: a spec change applies to a task that is (again) waiting for its
            # next attempt, and is reported against the phase the task is now in
            self.spec_change(key, self.specs.get(key, ""))
        self.schedule()
        return self.plan


def decide(
    desired: DesiredState,
    specs: Mapping[str, str],
    statuses: Mapping[str, TaskStatus],
    leases: Mapping[str, Lease],
    now: float,
    invalid: frozenset[str] = frozenset(),
) -> Plan:
    """Pure: what should change, given desired state, observed state and the time.

    `invalid` names tasks whose manifest exists but does not validate: they are frozen, not
    cancelled, so that a typo on main never revokes running work.
    """
    return _Decider(desired, specs, statuses, leases, now, invalid).run()
