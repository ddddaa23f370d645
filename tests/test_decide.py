"""decide(): the pure step of a reconcile pass, against a small simulated world.

`World` plays the parts around decide the way the real system does: agents claim Queued tasks
from the last status, the holder of the current lease heartbeats, completes, fails or
releases, and the reconciler applies the plan's lease actions before storing its statuses.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reconciler.decide import Plan, decide
from reconciler.desired import DesiredState
from reconciler.globs import scopes_overlap
from reconciler.leases import ACTIVE, Lease
from reconciler.model import (
    Agent,
    AgentRef,
    Kluster,
    Meta,
    Mission,
    Policy,
    Retries,
    Rule,
    RuleMatch,
    Task,
)
from reconciler.phases import HELD, TERMINAL, Phase, check_transition
from reconciler.status import TaskStatus

M = "m"
T0 = 1_000_000.0
TTL = 30.0
RETRIES = Retries(max_attempts=2, initial_seconds=10, max_seconds=60, factor=2.0)
SCHEMA = {"type": "object", "required": ["summary"], "properties": {"summary": {"type": "string"}}}
OCCUPYING = (Phase.QUEUED, Phase.LEASED, Phase.RUNNING)


def task(
    name: str,
    *,
    needs: Iterable[str] = (),
    paths: Iterable[str] = (),
    priority: int = 50,
    retries: Retries = RETRIES,
    outputs_schema: dict[str, Any] | None = None,
    approval_policy: str | None = None,
    suspend: bool = False,
) -> Task:
    return Task(
        Meta(name),
        M,
        f"missions/{M}/tasks/{name}.yaml",
        title=name,
        kluster="k",
        agent=AgentRef(name="w"),
        priority=priority,
        needs=tuple(needs),
        paths=tuple(paths),
        outputs_schema=outputs_schema,
        retries=retries,
        approval_policy=approval_policy,
        suspend=suspend,
    )


def desired_state(tasks: Iterable[Task], *, suspend: bool = False, policies: Iterable[Policy] = ()) -> DesiredState:
    ds = DesiredState()
    ms = ds.mission(M)
    ms.mission = Mission(Meta(M), None, f"missions/{M}/mission.yaml", owners=("alice",), suspend=suspend)
    ms.klusters["k"] = Kluster(Meta("k"), M, f"missions/{M}/klusters/k.yaml", outcome="done")
    ms.agents["w"] = Agent(Meta("w"), M, f"missions/{M}/agents/w.yaml", command=("true",))
    for t in tasks:
        ms.tasks[t.name] = t
    for p in policies:
        ms.policies[p.name] = p
    return ds


def key(name: str) -> str:
    return f"{M}/{name}"


class Refused(Exception):
    """The simulated lease chain refused a report (stale generation, ended or expired lease)."""


@dataclass
class World:
    """Desired state, the status chain and the lease chains; time moves only when told."""

    desired: DesiredState
    specs: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    chains: dict[str, list[Lease]] = field(default_factory=dict)
    now: float = T0
    invalid: frozenset[str] = frozenset()
    plans: list[Plan] = field(default_factory=list)
    # what the last pass left: statuses, lease tips, time, desired task names
    last_pass: tuple[dict[str, TaskStatus], dict[str, Lease], float, frozenset[str]] | None = None

    @classmethod
    def of(cls, *tasks: Task, **kwargs: Any) -> World:
        world = cls(desired_state(tasks, **kwargs))
        world.specs = {key(t.name): "spec-1" for t in tasks}
        return world

    # -- desired state ---------------------------------------------------------------------
    @property
    def tasks(self) -> dict[str, Task]:
        return self.desired.missions[M].tasks

    def put(self, t: Task, spec: str | None = None) -> None:
        self.tasks[t.name] = t
        self.specs[key(t.name)] = spec or self.specs.get(key(t.name), "spec-1")

    def remove(self, name: str) -> None:
        del self.tasks[name]
        self.specs.pop(key(name), None)

    # -- observed state ----------------------------------------------------------------------
    @property
    def leases(self) -> dict[str, Lease]:
        return {k: chain[-1] for k, chain in self.chains.items() if chain}

    def lease(self, name: str) -> Lease:
        return self.chains[key(name)][-1]

    def phase(self, name: str) -> Phase:
        return self.statuses[key(name)].phase

    def status(self, name: str) -> TaskStatus:
        return self.statuses[key(name)]

    def tick(self, seconds: float) -> None:
        self.now += seconds

    # -- the reconciler ------------------------------------------------------------------------
    def reconcile(self) -> Plan:
        statuses_before = copy.deepcopy(self.statuses)
        leases_before = dict(self.leases)
        plan = decide(self.desired, self.specs, self.statuses, self.leases, self.now, self.invalid)
        assert self.statuses == statuses_before, "decide mutated its input statuses"
        check_plan(plan, self.statuses)
        for action in plan.lease_actions:
            assert action.action in ("expire", "revoke")
            assert leases_before[action.key] == action.lease
            state = "expired" if action.action == "expire" else "revoked"
            self.chains[action.key].append(replace(action.lease, state=state, renewed_at=self.now))
        self.statuses = {**self.statuses, **plan.statuses}
        self.plans.append(plan)
        self.last_pass = (self.statuses, self.leases, self.now, frozenset(self.tasks))
        return plan

    # -- agents ----------------------------------------------------------------------------------
    def claimable(self, name: str) -> bool:
        st = self.statuses.get(key(name))
        if st is None or st.phase != Phase.QUEUED or name not in self.tasks:
            return False
        if st.not_before is not None and st.not_before > self.now:
            return False
        tip = self.leases.get(key(name))
        return tip is None or (tip.generation <= st.generation and not tip.live(self.now))

    def claim(self, name: str, agent: str = "w-1", ttl: float = TTL) -> Lease:
        assert self.claimable(name), f"{name} is not claimable"
        st = self.statuses[key(name)]
        tip = self.leases.get(key(name))
        generation = max(st.generation, tip.generation if tip else 0) + 1
        lease = Lease(key(name), generation, agent, "node-1", ACTIVE, self.now, self.now, self.now + ttl, ttl)
        self.chains.setdefault(key(name), []).append(lease)
        return lease

    def current(self, name: str, generation: int) -> Lease:
        """The lease the holder of `generation` may act on, as `leases.current` checks it."""
        chain = self.chains.get(key(name))
        if not chain:
            raise Refused("no lease")
        tip = chain[-1]
        if tip.generation != generation:
            raise Refused(f"stale generation {generation}: the lease is at {tip.generation}")
        if tip.state != ACTIVE:
            raise Refused(f"lease generation {generation} has ended ({tip.state})")
        if self.now >= tip.expires_at:
            raise Refused(f"lease generation {generation} expired")
        return tip

    def _append(self, lease: Lease) -> Lease:
        self.chains[lease.key].append(lease)
        return lease

    def heartbeat(self, name: str, generation: int | None = None) -> Lease:
        lease = self.current(name, self.lease(name).generation if generation is None else generation)
        started = lease.started_at if lease.started_at is not None else self.now
        return self._append(replace(lease, renewed_at=self.now, expires_at=self.now + lease.ttl, started_at=started))

    def complete(self, name: str, outputs: dict[str, Any] | None = None, generation: int | None = None) -> Lease:
        lease = self.current(name, self.lease(name).generation if generation is None else generation)
        return self._append(
            replace(
                lease,
                state="completed",
                renewed_at=self.now,
                expires_at=self.now + lease.ttl,
                started_at=lease.started_at if lease.started_at is not None else self.now,
                outputs=outputs if outputs is not None else {},
                result_commit=f"{lease.generation:040x}",
            )
        )

    def end(self, name: str, state: str, reason: str = "", generation: int | None = None) -> Lease:
        assert state in ("failed", "released")
        lease = self.current(name, self.lease(name).generation if generation is None else generation)
        return self._append(replace(lease, state=state, reason=reason, renewed_at=self.now))

    def act(self, name: str, action: str, generation: int | None = None) -> Lease:
        """A report by the holder of `generation`: heartbeat, complete, failed or released."""
        if action == "heartbeat":
            return self.heartbeat(name, generation)
        if action == "complete":
            return self.complete(name, {"summary": "late"}, generation)
        return self.end(name, action, "late", generation)


def check_plan(plan: Plan, old: dict[str, TaskStatus]) -> None:
    """Each task's transitions are legal and chain from its old phase to its new one."""
    last: dict[str, Phase | None] = {}
    for t in plan.transitions:
        if t.source is None:
            assert t.target == Phase.PENDING
            assert t.key not in old
        else:
            check_transition(t.source, t.target)
        expected = last[t.key] if t.key in last else (old[t.key].phase if t.key in old else None)
        assert t.source == expected, f"{t} does not follow {expected}"
        last[t.key] = t.target
    for k, target in last.items():
        assert plan.statuses[k].phase == target
    for k, new in plan.statuses.items():
        if k not in last:
            assert k in old, k
            assert old[k].phase == new.phase, f"{k} changed phase without a transition"
        assert new is not old.get(k), "plan statuses must be copies"


def phases(world: World) -> dict[str, Phase]:
    return {k.split("/", 1)[1]: s.phase for k, s in world.statuses.items()}


def reasons(world: World, name: str, type_: str = "Ready") -> tuple[bool, str] | None:
    cond = world.status(name).condition(type_)
    return None if cond is None else (cond.status, cond.reason)


def run_to_leased(world: World, name: str) -> Lease:
    lease = world.claim(name)
    world.reconcile()
    assert world.phase(name) == Phase.LEASED
    return lease


def run_to_running(world: World, name: str) -> Lease:
    run_to_leased(world, name)
    lease = world.heartbeat(name)
    world.reconcile()
    assert world.phase(name) == Phase.RUNNING
    return lease


# ---------------------------------------------------------------------------------------------
# the basic path
# ---------------------------------------------------------------------------------------------


def test_new_task_without_needs_is_declared_and_queued_in_one_pass() -> None:
    world = World.of(task("a"))
    plan = world.reconcile()
    assert [(t.key, t.source, t.target) for t in plan.transitions] == [
        ("m/a", None, Phase.PENDING),
        ("m/a", Phase.PENDING, Phase.QUEUED),
    ]
    st = world.status("a")
    assert st.phase == Phase.QUEUED
    assert (st.created, st.spec, st.generation, st.attempts) == (T0, "spec-1", 0, 0)
    assert reasons(world, "a") == (True, "Queued")
    assert [e.target for e in st.history] == ["Pending", "Queued"]


def test_a_pass_with_nothing_to_do_returns_an_empty_plan() -> None:
    world = World.of(task("a"), task("b", needs=["a"]))
    world.reconcile()
    world.tick(5)
    plan = world.reconcile()
    assert plan.statuses == {}
    assert plan.transitions == []
    assert plan.lease_actions == []
    assert plan.wake_at is None


def test_claim_observed_then_started_then_completed() -> None:
    world = World.of(task("a"))
    world.reconcile()
    world.tick(1)
    lease = world.claim("a", agent="w-1")
    assert lease.generation == 1
    plan = world.reconcile()
    st = world.status("a")
    assert st.phase == Phase.LEASED
    assert (st.attempts, st.generation, st.holder, st.node) == (1, 1, "w-1", "node-1")
    assert plan.wake_at == lease.expires_at

    world.tick(5)
    world.heartbeat("a")
    world.reconcile()
    assert world.phase("a") == Phase.RUNNING

    world.tick(5)
    done = world.complete("a", {"summary": "ok"})
    world.reconcile()
    st = world.status("a")
    assert st.phase == Phase.SUCCEEDED
    assert st.holder is None
    assert st.outputs == {"summary": "ok"}
    assert st.result_commit == done.result_commit
    # a finished task stays quiet
    world.tick(1000)
    assert world.reconcile().statuses == {}


def test_complete_without_heartbeat_passes_through_running() -> None:
    world = World.of(task("a"))
    world.reconcile()
    world.claim("a")
    world.complete("a")
    plan = world.reconcile()
    assert [t.target for t in plan.transitions] == [Phase.LEASED, Phase.RUNNING, Phase.SUCCEEDED]


def test_completed_with_approval_policy_awaits_approval() -> None:
    world = World.of(task("a", approval_policy="release"))
    world.reconcile()
    run_to_running(world, "a")
    world.complete("a")
    world.reconcile()
    assert world.phase("a") == Phase.AWAITING_APPROVAL
    assert "release" in world.status("a").message
    # not occupying, not changed by later passes
    world.tick(1000)
    assert world.reconcile().statuses == {}


def test_outputs_violating_the_schema_are_retried_not_accepted() -> None:
    world = World.of(task("a", outputs_schema=SCHEMA))
    world.reconcile()
    run_to_running(world, "a")
    world.complete("a", {"summary": 42})
    world.reconcile()
    st = world.status("a")
    assert st.phase == Phase.QUEUED
    assert st.failures == 1
    assert st.outputs is None
    assert "output schema" in st.message
    assert st.not_before == world.now + 10

    world.tick(10)
    run_to_running(world, "a")
    world.complete("a", {"summary": "fine"})
    world.reconcile()
    assert world.phase("a") == Phase.SUCCEEDED
    assert world.status("a").outputs == {"summary": "fine"}


def test_missing_outputs_are_checked_against_the_schema() -> None:
    world = World.of(task("a", outputs_schema=SCHEMA, retries=Retries(max_attempts=1)))
    world.reconcile()
    run_to_running(world, "a")
    world.complete("a", None)
    world.reconcile()
    assert world.phase("a") == Phase.FAILED


# ---------------------------------------------------------------------------------------------
# dependencies
# ---------------------------------------------------------------------------------------------


def test_dependent_waits_then_is_queued_in_the_pass_its_need_succeeds() -> None:
    world = World.of(task("a"), task("b", needs=["a"]), task("c", needs=["b"]))
    world.reconcile()
    assert phases(world) == {"a": Phase.QUEUED, "b": Phase.PENDING, "c": Phase.PENDING}
    assert reasons(world, "b") == (False, "WaitingForDependencies")
    assert world.status("b").condition("Ready").message == "waiting for a"  # type: ignore[union-attr]

    run_to_running(world, "a")
    assert world.phase("b") == Phase.PENDING
    world.complete("a")
    plan = world.reconcile()
    assert phases(world) == {"a": Phase.SUCCEEDED, "b": Phase.QUEUED, "c": Phase.PENDING}
    assert ("m/b", Phase.PENDING, Phase.QUEUED) in [(t.key, t.source, t.target) for t in plan.transitions]
    assert reasons(world, "b") == (True, "Queued")
    assert world.status("b").message == "dependencies met"


def test_a_need_that_does_not_exist_blocks() -> None:
    world = World.of(task("b", needs=["ghost"]))
    world.reconcile()
    assert world.phase("b") == Phase.BLOCKED
    assert "ghost" in world.status("b").message


def test_failed_need_blocks_dependents_transitively_and_unblocks_when_removed_from_needs() -> None:
    no_retry = Retries(max_attempts=1)
    world = World.of(task("a", retries=no_retry), task("b", needs=["a"]), task("c", needs=["b"]), task("d"))
    world.reconcile()
    run_to_running(world, "a")
    world.end("a", "failed", "boom")
    plan = world.reconcile()
    assert phases(world) == {"a": Phase.FAILED, "b": Phase.BLOCKED, "c": Phase.BLOCKED, "d": Phase.QUEUED}
    assert "boom" in world.status("a").message
    assert world.status("b").message == "dependency a cannot succeed"
    assert {t.key for t in plan.transitions if t.target == Phase.BLOCKED} == {"m/b", "m/c"}
    assert world.reconcile().statuses == {}

    # b no longer needs a: Blocked -> Pending -> Queued in one pass; c follows once b succeeds
    world.put(task("b"), spec="spec-2")
    world.reconcile()
    assert world.phase("b") == Phase.QUEUED
    assert world.status("b").spec == "spec-2"
    assert [e.target for e in world.status("b").history][-3:] == ["Blocked", "Pending", "Queued"]
    assert world.phase("c") == Phase.PENDING
    run_to_running(world, "b")
    world.complete("b")
    world.reconcile()
    assert world.phase("c") == Phase.QUEUED


def test_blocking_and_unblocking_do_not_depend_on_the_order_tasks_are_visited() -> None:
    """c (visited first: highest priority) needs b needs a: one pass blocks, one pass unblocks."""
    world = World.of(
        task("a", retries=Retries(max_attempts=1)), task("b", needs=["a"]), task("c", needs=["b"], priority=99)
    )
    world.reconcile()
    run_to_running(world, "a")
    world.end("a", "failed")
    world.reconcile()
    assert phases(world) == {"a": Phase.FAILED, "b": Phase.BLOCKED, "c": Phase.BLOCKED}
    assert world.status("c").message == "dependency b cannot succeed"
    world.put(task("b"))
    plan = world.reconcile()
    assert phases(world) == {"a": Phase.FAILED, "b": Phase.QUEUED, "c": Phase.PENDING}
    assert reasons(world, "c") == (False, "WaitingForDependencies")
    assert [(t.key, t.target) for t in plan.transitions] == [
        ("m/b", Phase.PENDING),
        ("m/c", Phase.PENDING),
        ("m/b", Phase.QUEUED),
    ]


def test_blocked_chain_is_complete_after_one_pass() -> None:
    world = World.of(task("a", retries=Retries(max_attempts=1)), task("b", needs=["a"]), task("c", needs=["b"]))
    world.reconcile()
    run_to_running(world, "a")
    world.end("a", "failed")
    world.reconcile()
    assert phases(world) == {"a": Phase.FAILED, "b": Phase.BLOCKED, "c": Phase.BLOCKED}


def test_cancelled_need_blocks_and_redeclaring_it_unblocks() -> None:
    world = World.of(task("a"), task("b", needs=["a"]))
    world.reconcile()
    world.remove("a")
    world.reconcile()
    assert phases(world) == {"a": Phase.CANCELLED, "b": Phase.BLOCKED}
    world.put(task("a"))
    world.reconcile()
    assert phases(world) == {"a": Phase.QUEUED, "b": Phase.PENDING}


# ---------------------------------------------------------------------------------------------
# failures, retries, expiry
# ---------------------------------------------------------------------------------------------


def test_failure_requeues_with_exponential_backoff_then_fails() -> None:
    retries = Retries(max_attempts=5, initial_seconds=10, max_seconds=50, factor=3.0)
    world = World.of(task("a", retries=retries))
    world.reconcile()
    delays = []
    for attempt in range(1, 6):
        run_to_running(world, "a")
        world.end("a", "failed", f"try {attempt}")
        plan = world.reconcile()
        st = world.status("a")
        assert st.failures == attempt
        assert st.attempts == attempt
        assert st.holder is None
        if attempt < 5:
            assert st.phase == Phase.QUEUED
            assert st.not_before is not None
            delays.append(st.not_before - world.now)
            assert plan.wake_at == st.not_before
            # not claimable before the backoff ends
            world.tick(delays[-1] - 1)
            assert not world.claimable("a")
            assert world.reconcile().statuses == {}
            world.tick(1)
            assert world.claimable("a")
        else:
            assert st.phase == Phase.FAILED
            assert "no attempts left (5 of 5)" in st.message
    assert delays == [10, 30, 50, 50]


def test_backoff_formula() -> None:
    r = Retries(max_attempts=9, initial_seconds=7, max_seconds=100, factor=2.0)
    assert [r.backoff(n) for n in range(1, 7)] == [7, 14, 28, 56, 100, 100]


def test_release_requeues_without_counting_a_failure() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.end("a", "released", "shutting down")
    world.reconcile()
    st = world.status("a")
    assert st.phase == Phase.QUEUED
    assert (st.failures, st.holder, st.not_before) == (0, None, None)
    assert world.claimable("a")
    assert world.claim("a").generation == 2


def test_expired_lease_is_expired_and_requeued_in_one_pass() -> None:
    world = World.of(task("a"))
    world.reconcile()
    lease = run_to_running(world, "a")
    world.tick(TTL + 1)
    with pytest.raises(Refused):
        world.heartbeat("a")
    plan = world.reconcile()
    assert [(a.key, a.action, a.lease.generation) for a in plan.lease_actions] == [("m/a", "expire", lease.generation)]
    assert [t.target for t in plan.transitions] == [Phase.EXPIRED, Phase.QUEUED]
    st = world.status("a")
    assert st.phase == Phase.QUEUED
    assert st.failures == 1
    assert st.not_before == world.now + 10
    assert world.lease("a").state == "expired"
    world.tick(10)
    assert world.claim("a").generation == lease.generation + 1


def test_expiry_on_the_last_attempt_fails() -> None:
    world = World.of(task("a", retries=Retries(max_attempts=1)))
    world.reconcile()
    run_to_leased(world, "a")  # never started
    world.tick(TTL)
    plan = world.reconcile()
    assert [t.target for t in plan.transitions] == [Phase.EXPIRED, Phase.FAILED]
    assert [a.action for a in plan.lease_actions] == ["expire"]


def test_lease_already_expired_after_a_crash_gives_the_same_result_without_a_second_action() -> None:
    def scenario() -> World:
        world = World.of(task("a"))
        world.reconcile()
        run_to_running(world, "a")
        world.tick(TTL + 5)
        return world

    normal = scenario()
    plan = normal.reconcile()
    assert len(plan.lease_actions) == 1

    crashed = scenario()
    lease = crashed.lease("a")
    crashed.chains["m/a"].append(replace(lease, state="expired", renewed_at=crashed.now))  # lease written, no status
    again = crashed.reconcile()
    assert again.lease_actions == []
    assert [(t.source, t.target) for t in again.transitions] == [(t.source, t.target) for t in plan.transitions]
    assert crashed.status("a") == normal.status("a")


def test_heartbeat_keeps_the_lease_alive() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    for _ in range(5):
        world.tick(TTL - 1)
        world.heartbeat("a")
        plan = world.reconcile()
        assert plan.lease_actions == []
        assert world.phase("a") == Phase.RUNNING
        assert plan.wake_at == world.lease("a").expires_at


def test_stale_generation_cannot_act() -> None:
    world = World.of(task("a"))
    world.reconcile()
    old = run_to_running(world, "a")
    world.tick(TTL + 1)
    world.reconcile()
    world.tick(10)
    new = world.claim("a", agent="w-2")
    world.reconcile()
    for action in ("heartbeat", "complete", "failed", "released"):
        with pytest.raises(Refused, match="stale"):
            world.act("a", action, old.generation)
    assert world.lease("a") == new
    assert world.reconcile().statuses == {}
    assert world.status("a").holder == "w-2"


def test_a_lease_of_an_older_generation_is_ignored() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.end("a", "released")
    world.reconcile()
    st = world.status("a")
    # the status is at generation 1; a completed lease of generation 1 must not be replayed
    stale = replace(world.lease("a"), state="completed")
    plan = decide(world.desired, world.specs, world.statuses, {"m/a": stale}, world.now)
    assert plan.statuses == {}
    assert st.phase == Phase.QUEUED


# ---------------------------------------------------------------------------------------------
# removal, re-declaration, invalid manifests, spec changes
# ---------------------------------------------------------------------------------------------


def test_removed_running_task_is_cancelled_and_its_lease_revoked() -> None:
    world = World.of(task("a"))
    world.reconcile()
    lease = run_to_running(world, "a")
    world.remove("a")
    plan = world.reconcile()
    assert [(a.key, a.action, a.lease) for a in plan.lease_actions] == [("m/a", "revoke", lease)]
    st = world.status("a")
    assert st.phase == Phase.CANCELLED
    assert st.holder is None
    assert world.lease("a").state == "revoked"
    with pytest.raises(Refused):
        world.complete("a")
    assert world.reconcile().statuses == {}


def test_removed_queued_task_is_cancelled_without_lease_action() -> None:
    world = World.of(task("a"))
    world.reconcile()
    world.remove("a")
    plan = world.reconcile()
    assert plan.lease_actions == []
    assert world.phase("a") == Phase.CANCELLED


def test_removed_after_a_claim_the_reconciler_has_not_seen_revokes_that_lease() -> None:
    world = World.of(task("a"))
    world.reconcile()
    lease = world.claim("a")
    world.remove("a")
    plan = world.reconcile()
    assert world.phase("a") == Phase.CANCELLED
    assert [(a.action, a.lease) for a in plan.lease_actions] == [("revoke", lease)]
    with pytest.raises(Refused):
        world.complete("a")
    st = world.status("a")
    assert (st.generation, st.attempts, st.holder) == (1, 0, None)
    # declared again: queued afresh, the revoked lease is not replayed as a grant
    world.put(task("a"))
    world.reconcile()
    assert world.phase("a") == Phase.QUEUED
    assert world.reconcile().transitions == []
    assert world.claim("a", agent="w-2").generation == 2
    world.reconcile()
    assert (world.status("a").holder, world.status("a").attempts) == ("w-2", 1)


def test_result_of_a_claim_made_just_before_removal_is_not_taken_after_redeclaration() -> None:
    world = World.of(task("a"))
    world.reconcile()
    world.claim("a")
    world.complete("a", {"summary": "for the old spec"})
    world.remove("a")
    plan = world.reconcile()
    assert plan.lease_actions == []  # nothing live to revoke
    assert world.phase("a") == Phase.CANCELLED
    world.put(task("a"), spec="spec-2")
    world.reconcile()
    world.reconcile()
    st = world.status("a")
    assert st.phase == Phase.QUEUED
    assert st.outputs is None
    assert world.claim("a").generation == 2


def test_redeclared_task_still_in_backoff_wakes_the_reconciler() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.end("a", "failed")
    world.reconcile()
    not_before = world.status("a").not_before
    assert not_before == world.now + 10
    world.remove("a")
    world.reconcile()
    world.tick(1)
    world.put(task("a"))
    plan = world.reconcile()
    assert world.phase("a") == Phase.QUEUED
    assert plan.wake_at == not_before
    assert not world.claimable("a")


def test_removed_finished_task_stays_as_it_is() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.complete("a")
    world.reconcile()
    world.remove("a")
    assert world.reconcile().statuses == {}
    assert world.phase("a") == Phase.SUCCEEDED


def test_redeclared_task_goes_back_to_pending_and_runs_with_a_new_generation() -> None:
    world = World.of(task("a"), task("b", needs=["a"]))
    world.reconcile()
    lease = run_to_running(world, "a")
    world.remove("a")
    world.reconcile()
    world.put(task("a"), spec="spec-2")
    plan = world.reconcile()
    assert (Phase.CANCELLED, Phase.PENDING) in [(t.source, t.target) for t in plan.transitions if t.key == "m/a"]
    st = world.status("a")
    assert st.phase == Phase.QUEUED
    assert st.spec == "spec-2"
    assert world.phase("b") == Phase.PENDING
    assert world.claim("a").generation == lease.generation + 1
    world.reconcile()
    world.complete("a")
    world.reconcile()
    assert phases(world) == {"a": Phase.SUCCEEDED, "b": Phase.QUEUED}


def test_invalid_manifest_freezes_the_task_instead_of_cancelling_it() -> None:
    world = World.of(task("a"))
    world.reconcile()
    lease = run_to_running(world, "a")
    world.remove("a")
    world.invalid = frozenset({"m/a"})
    plan = world.reconcile()
    assert plan.lease_actions == []
    assert plan.transitions == []
    st = world.status("a")
    assert st.phase == Phase.RUNNING
    assert reasons(world, "a", "ManifestValid") == (False, "InvalidManifest")
    assert world.reconcile().statuses == {}

    # fixed again: the condition goes, the task carries on
    world.put(task("a"))
    world.invalid = frozenset()
    world.reconcile()
    assert world.status("a").condition("ManifestValid") is None
    assert world.phase("a") == Phase.RUNNING
    world.complete("a")
    world.reconcile()
    assert world.phase("a") == Phase.SUCCEEDED
    assert world.status("a").generation == lease.generation


def test_spec_change_while_running_is_flagged_not_applied() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.specs["m/a"] = "spec-2"
    plan = world.reconcile()
    assert plan.transitions == []
    st = world.status("a")
    assert st.phase == Phase.RUNNING
    assert st.spec == "spec-1"
    assert reasons(world, "a", "SpecChanged") == (True, "ChangedWhileRunning")
    assert world.reconcile().statuses == {}

    # the next attempt takes the new spec, and the condition goes, in the same pass
    world.end("a", "failed")
    world.reconcile()
    st = world.status("a")
    assert (st.phase, st.spec) == (Phase.QUEUED, "spec-2")
    assert st.condition("SpecChanged") is None
    assert world.reconcile().statuses == {}


@pytest.mark.parametrize("how", ["expired", "released"])
def test_spec_changed_while_running_applies_to_the_next_attempt_whatever_ended_this_one(how: str) -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.specs["m/a"] = "spec-2"
    world.reconcile()
    if how == "expired":
        world.tick(TTL)
    else:
        world.end("a", "released")
    world.reconcile()
    st = world.status("a")
    # the queue entry agents claim from carries this spec: it must be the new one already
    assert (st.phase, st.spec) == (Phase.QUEUED, "spec-2")
    assert st.condition("SpecChanged") is None
    assert world.reconcile().statuses == {}


def test_spec_change_seen_with_the_claim_is_not_applied_to_that_attempt() -> None:
    world = World.of(task("a"))
    world.reconcile()
    world.claim("a")  # granted for spec-1, the spec in the queue
    world.specs["m/a"] = "spec-2"
    world.reconcile()
    st = world.status("a")
    assert (st.phase, st.spec) == (Phase.LEASED, "spec-1")
    assert reasons(world, "a", "SpecChanged") == (True, "ChangedWhileLeased")


def test_spec_change_condition_follows_the_phase() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.specs["m/a"] = "spec-2"
    world.reconcile()
    world.complete("a")
    world.reconcile()
    assert reasons(world, "a", "SpecChanged") == (True, "ChangedWhileSucceeded")
    assert world.reconcile().statuses == {}


def test_spec_change_while_pending_is_applied_silently() -> None:
    world = World.of(task("a"), task("b", needs=["a"]))
    world.reconcile()
    world.specs["m/b"] = "spec-2"
    plan = world.reconcile()
    assert plan.transitions == []
    assert set(plan.statuses) == {"m/b"}
    st = world.status("b")
    assert (st.phase, st.spec) == (Phase.PENDING, "spec-2")
    assert st.condition("SpecChanged") is None


def test_spec_change_after_success_is_flagged_as_not_applied() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.complete("a")
    world.reconcile()
    world.specs["m/a"] = "spec-2"
    world.reconcile()
    st = world.status("a")
    assert (st.phase, st.spec) == (Phase.SUCCEEDED, "spec-1")
    assert "not applied" in st.condition("SpecChanged").message  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# admission: path scopes, priority, holds
# ---------------------------------------------------------------------------------------------


def test_overlapping_paths_admit_only_the_higher_priority_task() -> None:
    world = World.of(task("a", paths=["src/a.py"], priority=10), task("b", paths=["src/**"], priority=90))
    world.reconcile()
    assert phases(world) == {"a": Phase.PENDING, "b": Phase.QUEUED}
    assert reasons(world, "a") == (False, "ScopeOverlap")
    assert "m/b" in world.status("a").condition("Ready").message  # type: ignore[union-attr]

    run_to_running(world, "b")
    assert world.phase("a") == Phase.PENDING
    world.complete("b")
    world.reconcile()
    assert phases(world) == {"a": Phase.QUEUED, "b": Phase.SUCCEEDED}
    assert reasons(world, "a") == (True, "Queued")


def test_overlap_is_released_when_the_holder_fails_for_good() -> None:
    world = World.of(
        task("a", paths=["src/a.py"], priority=10),
        task("b", paths=["src/**"], priority=90, retries=Retries(max_attempts=1)),
    )
    world.reconcile()
    run_to_running(world, "b")
    world.end("b", "failed")
    world.reconcile()
    assert phases(world) == {"a": Phase.QUEUED, "b": Phase.FAILED}


def test_overlap_is_kept_while_the_holder_waits_for_a_retry() -> None:
    world = World.of(task("a", paths=["src/a.py"], priority=10), task("b", paths=["src/**"], priority=90))
    world.reconcile()
    run_to_running(world, "b")
    world.end("b", "failed")
    world.reconcile()
    assert phases(world) == {"a": Phase.PENDING, "b": Phase.QUEUED}


def test_disjoint_paths_are_both_queued() -> None:
    world = World.of(task("a", paths=["src/**"]), task("b", paths=["docs/**"]), task("c"))
    world.reconcile()
    assert set(phases(world).values()) == {Phase.QUEUED}


def test_equal_priority_goes_to_the_older_task() -> None:
    world = World.of(task("h", paths=["src/**"]))
    world.reconcile()
    run_to_running(world, "h")
    world.put(task("z", paths=["src/z.py"]))
    world.reconcile()
    world.tick(5)
    world.put(task("a", paths=["src/**/*.py"]))
    world.reconcile()
    assert phases(world) == {"h": Phase.RUNNING, "z": Phase.PENDING, "a": Phase.PENDING}
    world.complete("h")
    world.reconcile()
    assert phases(world) == {"h": Phase.SUCCEEDED, "z": Phase.QUEUED, "a": Phase.PENDING}
    assert "m/z" in world.status("a").condition("Ready").message  # type: ignore[union-attr]


def test_priority_beats_age() -> None:
    world = World.of(task("h", paths=["src/**"]))
    world.reconcile()
    run_to_running(world, "h")
    world.put(task("old", paths=["src/x.py"], priority=1))
    world.reconcile()
    world.tick(5)
    world.put(task("new", paths=["src/x.py"], priority=2))
    world.reconcile()
    world.complete("h")
    world.reconcile()
    assert world.phase("new") == Phase.QUEUED
    assert world.phase("old") == Phase.PENDING


def test_a_queued_task_keeps_its_scope_against_a_higher_priority_newcomer() -> None:
    world = World.of(task("a", paths=["src/**"], priority=1))
    world.reconcile()
    world.put(task("b", paths=["src/b.py"], priority=99))
    world.reconcile()
    assert phases(world) == {"a": Phase.QUEUED, "b": Phase.PENDING}
    assert reasons(world, "b") == (False, "ScopeOverlap")


def test_queued_task_that_becomes_blocked_frees_its_scope_in_the_same_pass() -> None:
    world = World.of(task("f", retries=Retries(max_attempts=1)), task("q", paths=["src/**"], priority=90))
    world.reconcile()
    run_to_running(world, "f")
    world.end("f", "failed")
    world.reconcile()
    assert phases(world) == {"f": Phase.FAILED, "q": Phase.QUEUED}
    # q now needs the failed f, and r, which overlaps q, arrives
    world.put(task("q", paths=["src/**"], priority=90, needs=["f"]), spec="spec-2")
    world.put(task("r", paths=["src/r.py"], priority=10))
    world.reconcile()
    assert phases(world) == {"f": Phase.FAILED, "q": Phase.BLOCKED, "r": Phase.QUEUED}


@pytest.mark.parametrize("where", ["task", "mission"])
def test_suspended_task_or_mission_is_not_queued(where: str) -> None:
    suspended = task("a", suspend=where == "task")
    world = World.of(suspended, suspend=where == "mission")
    world.reconcile()
    assert world.phase("a") == Phase.PENDING
    assert reasons(world, "a") == (False, "Suspended")
    assert world.reconcile().statuses == {}
    # resumed
    world.put(task("a"))
    world.desired.missions[M].mission = replace(world.desired.missions[M].mission, suspend=False)  # type: ignore[type-var]
    world.reconcile()
    assert world.phase("a") == Phase.QUEUED


def test_suspending_a_queued_task_sends_it_back_to_pending() -> None:
    world = World.of(task("a", paths=["src/**"]), task("b", paths=["src/b.py"], priority=1))
    world.reconcile()
    assert phases(world) == {"a": Phase.QUEUED, "b": Phase.PENDING}
    world.put(task("a", paths=["src/**"], suspend=True))
    world.reconcile()
    assert phases(world) == {"a": Phase.PENDING, "b": Phase.QUEUED}
    assert reasons(world, "a") == (False, "Suspended")
    assert world.reconcile().statuses == {}


def test_a_scope_freed_by_a_lower_priority_task_is_taken_in_the_same_pass() -> None:
    world = World.of(task("low", paths=["src/**"], priority=1))
    world.reconcile()
    world.put(task("high", paths=["src/x.py"], priority=99))
    world.reconcile()
    assert reasons(world, "high") == (False, "ScopeOverlap")
    world.put(task("low", paths=["src/**"], priority=1, suspend=True))
    world.reconcile()
    assert phases(world) == {"low": Phase.PENDING, "high": Phase.QUEUED}


def test_suspending_a_running_task_lets_it_finish() -> None:
    world = World.of(task("a"))
    world.reconcile()
    run_to_running(world, "a")
    world.put(task("a", suspend=True))
    world.reconcile()
    assert world.phase("a") == Phase.RUNNING
    world.complete("a")
    world.reconcile()
    assert world.phase("a") == Phase.SUCCEEDED


def run_policy(state: str, tasks: tuple[str, ...] = ("a",), action: str = "run") -> Policy:
    return Policy(
        Meta("gate"),
        M,
        f"missions/{M}/policies/gate.yaml",
        state=state,
        rules=(Rule("needs-ok", action, match=RuleMatch(tasks=tasks)),),
    )


def test_active_run_rule_holds_the_task() -> None:
    world = World.of(task("a"), task("b"), policies=[run_policy("active")])
    world.reconcile()
    assert phases(world) == {"a": Phase.PENDING, "b": Phase.QUEUED}
    assert reasons(world, "a") == (False, "RunApprovalRequired")
    assert "gate" in world.status("a").condition("Ready").message  # type: ignore[union-attr]


@pytest.mark.parametrize(("state", "action"), [("draft", "run"), ("active", "publish")])
def test_draft_policy_or_other_action_does_not_hold(state: str, action: str) -> None:
    world = World.of(task("a"), policies=[run_policy(state, action=action)])
    world.reconcile()
    assert world.phase("a") == Phase.QUEUED


def test_archived_kluster_holds_the_task() -> None:
    world = World.of(task("a"))
    ms = world.desired.missions[M]
    ms.klusters["k"] = replace(ms.klusters["k"], archived=True)
    world.reconcile()
    assert reasons(world, "a") == (False, "Archived")


# ---------------------------------------------------------------------------------------------
# wake-ups
# ---------------------------------------------------------------------------------------------


def test_wake_at_is_the_earliest_lease_expiry_or_not_before() -> None:
    world = World.of(task("a"), task("b"))
    world.reconcile()
    lease_a = world.claim("a", ttl=100)
    world.claim("b", ttl=30)
    plan = world.reconcile()
    assert plan.wake_at == T0 + 30

    world.tick(5)
    world.end("b", "failed")  # b retries at now + 10, before a's expiry
    plan = world.reconcile()
    assert plan.wake_at == world.now + 10

    world.tick(10)
    world.claim("b", ttl=200)
    plan = world.reconcile()
    assert plan.wake_at == lease_a.expires_at
    # nothing changed: the next pass still reports when to wake
    world.tick(1)
    plan = world.reconcile()
    assert plan.statuses == {}
    assert plan.wake_at == lease_a.expires_at


def test_no_wake_when_nothing_is_timed() -> None:
    world = World.of(task("a"), task("b", needs=["a"]))
    assert world.reconcile().wake_at is None


# ---------------------------------------------------------------------------------------------
# stateful: random interleavings of reconciler, agents, clock and authors
# ---------------------------------------------------------------------------------------------

NAMES = ("a", "b", "c", "d", "e")


def spec_tasks() -> dict[str, Task]:
    return {
        "a": task("a", paths=["src/**"], priority=60),
        "b": task("b", needs=["a"], paths=["docs/**"], outputs_schema=SCHEMA),
        "c": task("c", needs=["a", "b"], paths=["src/c.py"], priority=70, approval_policy="release"),
        "d": task("d", paths=["src/d/*.py"], priority=40, retries=Retries(max_attempts=3, initial_seconds=5)),
        "e": task("e", needs=["d"], paths=["docs/e.md"]),
    }


FINAL = (Phase.SUCCEEDED, Phase.FAILED, Phase.BLOCKED, Phase.CANCELLED, Phase.AWAITING_APPROVAL)


class DecideMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.catalog = spec_tasks()
        self.world = World.of(*self.catalog.values())
        self.world.reconcile()
        self.seen: dict[str, TaskStatus] = dict(self.world.statuses)
        self.versions = 1

    # -- helpers ---------------------------------------------------------------------------------
    def holders(self) -> list[str]:
        """Tasks whose current lease is live: the only ones an agent may act on."""
        w = self.world
        return [k.split("/", 1)[1] for k, lease in w.leases.items() if lease.live(w.now)]

    def pick(self, names: list[str], index: int) -> str:
        return sorted(names)[index % len(names)]

    def then_pass(self, then: bool) -> None:
        """Many rules may be followed at once by a pass, so that runs get deep enough."""
        if then:
            self.reconcile()

    # -- rules -----------------------------------------------------------------------------------
    @rule()
    def reconcile(self) -> None:
        w = self.world
        before = w.statuses
        plan = w.reconcile()
        self.check_pass(before, plan)
        # one pass reaches a fixed point: the same inputs again change nothing
        again = decide(w.desired, w.specs, w.statuses, w.leases, w.now, w.invalid)
        assert again.statuses == {}, sorted(again.statuses)
        assert again.transitions == []
        assert again.lease_actions == []
        assert again.wake_at == plan.wake_at

    @rule(seconds=st.sampled_from([0.5, 1, 5, 10, 29, 30, 31, 61, 200]), then=st.booleans())
    def advance_time(self, seconds: float, then: bool) -> None:
        self.world.tick(seconds)
        self.then_pass(then)

    @precondition(lambda self: any(self.world.claimable(n) for n in NAMES))
    @rule(index=st.integers(0, 9), agent=st.sampled_from(["w-1", "w-2"]), then=st.booleans())
    def claim(self, index: int, agent: str, then: bool) -> None:
        name = self.pick([n for n in NAMES if self.world.claimable(n)], index)
        self.world.claim(name, agent)
        self.then_pass(then)

    @precondition(lambda self: self.holders())
    @rule(index=st.integers(0, 9), then=st.booleans())
    def heartbeat(self, index: int, then: bool) -> None:
        self.world.heartbeat(self.pick(self.holders(), index))
        self.then_pass(then)

    @precondition(lambda self: self.holders())
    @rule(index=st.integers(0, 9), valid=st.booleans(), then=st.booleans())
    def complete(self, index: int, valid: bool, then: bool) -> None:
        self.world.complete(self.pick(self.holders(), index), {"summary": "done"} if valid else {"summary": 1})
        self.then_pass(then)

    @precondition(lambda self: self.holders())
    @rule(index=st.integers(0, 9), then=st.booleans())
    def fail(self, index: int, then: bool) -> None:
        self.world.end(self.pick(self.holders(), index), "failed", "boom")
        self.then_pass(then)

    @precondition(lambda self: self.holders())
    @rule(index=st.integers(0, 9), then=st.booleans())
    def release(self, index: int, then: bool) -> None:
        self.world.end(self.pick(self.holders(), index), "released")
        self.then_pass(then)

    @precondition(lambda self: self.world.chains)
    @rule(
        index=st.integers(0, 9),
        back=st.integers(0, 3),
        action=st.sampled_from(["heartbeat", "complete", "failed", "released"]),
    )
    def act_with_stale_generation(self, index: int, back: int, action: str) -> None:
        """An agent that lost its lease (expired, revoked, superseded) reports anyway: refused."""
        w = self.world
        name = self.pick([k.split("/", 1)[1] for k in w.chains], index)
        tip = w.lease(name)
        generation = tip.generation - back
        if back == 0 and tip.live(w.now):
            generation = tip.generation + 1  # a generation nobody was ever granted
        chain = list(w.chains[key(name)])
        with pytest.raises(Refused):
            w.act(name, action, generation)
        assert w.chains[key(name)] == chain

    @precondition(lambda self: len(self.world.tasks) > 1)
    @rule(index=st.integers(0, 9), then=st.booleans())
    def remove_task(self, index: int, then: bool) -> None:
        self.world.remove(self.pick(list(self.world.tasks), index))
        self.then_pass(then)

    @precondition(lambda self: len(self.world.tasks) < len(NAMES))
    @rule(index=st.integers(0, 9), then=st.booleans())
    def readd_task(self, index: int, then: bool) -> None:
        name = self.pick([n for n in NAMES if n not in self.world.tasks], index)
        self.versions += 1
        self.world.put(self.catalog[name], spec=f"spec-{self.versions}")
        self.then_pass(then)

    @precondition(lambda self: self.world.tasks)
    @rule(index=st.integers(0, 9), then=st.booleans())
    def change_spec(self, index: int, then: bool) -> None:
        name = self.pick(list(self.world.tasks), index)
        self.versions += 1
        self.world.specs[key(name)] = f"spec-{self.versions}"
        self.then_pass(then)

    # -- invariants ------------------------------------------------------------------------------
    def check_pass(self, before: dict[str, TaskStatus], plan: Plan) -> None:
        w = self.world
        after = w.statuses
        for t in plan.transitions:
            if t.source in TERMINAL:
                assert (t.source, t.target) == (Phase.CANCELLED, Phase.PENDING), str(t)
                assert t.key.split("/", 1)[1] in w.tasks, str(t)
        for k, old in before.items():
            new = after[k]
            assert new.generation >= old.generation
            assert new.attempts >= old.attempts
            if old.phase in (Phase.SUCCEEDED, Phase.FAILED):
                assert new.phase == old.phase
        for lease_action in plan.lease_actions:
            assert w.statuses[lease_action.key].phase in (Phase.CANCELLED, Phase.QUEUED, Phase.FAILED)

    @invariant()
    def statuses_are_sound(self) -> None:
        w = self.world
        for k, s in self.seen.items():
            assert k in w.statuses, f"status of {k} lost"
            assert w.statuses[k].generation >= s.generation
        self.seen = dict(w.statuses)
        for k, s in w.statuses.items():
            assert isinstance(s.phase, Phase)
            assert s.key == k
        for chain in w.chains.values():
            gens = [lease.generation for lease in chain]
            assert gens == sorted(gens)

    @invariant()
    def after_a_pass(self) -> None:
        """Properties of the statuses as the last pass left them (agents may have acted since)."""
        w = self.world
        assert w.last_pass is not None
        statuses, leases, now, desired = w.last_pass
        for name in desired:
            assert key(name) in statuses, f"desired task {name} has no status after a pass"
            assert statuses[key(name)].phase != Phase.CANCELLED
        for k, s in statuses.items():
            lease = leases.get(k)
            if s.phase in HELD:
                assert lease is not None, k
                assert lease.generation == s.generation, (s, lease)
                assert lease.live(now), (s, lease)
                assert s.holder == lease.agent
            elif lease is not None and lease.live(now):
                raise AssertionError(f"{k} is {s.phase} but its lease generation {lease.generation} is live")
            if s.phase == Phase.SUCCEEDED:
                for need in self.catalog[s.task].needs:
                    assert statuses[key(need)].phase == Phase.SUCCEEDED, (k, need)
            if s.phase == Phase.QUEUED and s.not_before is not None and s.not_before > now:
                wake = w.plans[-1].wake_at
                assert wake is not None
                assert wake <= s.not_before
        occupying = [(k, self.catalog[s.task].paths) for k, s in statuses.items() if s.phase in OCCUPYING]
        for i, (k1, p1) in enumerate(occupying):
            for k2, p2 in occupying[i + 1 :]:
                assert not scopes_overlap(p1, p2), f"{k1} and {k2} overlap and are both admitted"

    def teardown(self) -> None:
        """Liveness: with no more failures or removals, every task reaches an end."""
        w = self.world
        for _ in range(40):
            w.reconcile()
            for name in NAMES:
                if w.claimable(name):
                    w.claim(name)
            w.reconcile()
            for name in self.holders():
                w.heartbeat(name)
                w.complete(name, {"summary": "done"})
            w.reconcile()
            w.tick(120)
            if all(w.statuses[key(n)].phase in FINAL for n in w.tasks):
                break
        stuck = {k: s.phase for k, s in w.statuses.items() if s.phase not in FINAL}
        assert not stuck, f"never finished: {stuck}"
        for name in w.tasks:
            assert w.phase(name) != Phase.CANCELLED


DecideMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestDecideMachine = DecideMachine.TestCase
