"""The incremental decision gives the full decision's plan, on random histories (hypothesis).

`World.reconcile` (tests/control/decide_world.py) runs both at every pass of every decide test
and compares them. This machine adds what those tests leave alone: dependencies rewired (cycles
included), paths changed, the mission suspended or capped, manifests turning invalid, observed
state held, publish gates opening, and mesh nodes vouching for leases, heartbeating, stopping
and restarting.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from reconciler.control.decide import Plan, decide
from reconciler.control.incremental import Changes, IncrementalDecider
from reconciler.vocabulary.conditions import Reason
from reconciler.vocabulary.nodes import NodeEvent
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.spend import SpendLimit
from reconciler.vocabulary.status import TaskStatus
from tests.control.decide_world import M, World, key, same_plan, task
from tests.control.test_decide_machine import NAMES, DecideMachine

PATHS = (("src/**",), ("src/d/*.py",), ("docs/**",), ())
NODES = ("n1", "n2")


class IncrementalMachine(DecideMachine):
    @precondition(lambda self: self.world.tasks)
    @rule(index=st.integers(0, 9), needs=st.sets(st.sampled_from(NAMES), max_size=3), then=st.booleans())
    def rewire(self, index: int, needs: set[str], then: bool) -> None:
        name = self.pick(list(self.world.tasks), index)
        self.world.put(replace(self.world.tasks[name], needs=tuple(sorted(needs - {name}) or sorted(needs))))
        self.then_pass(then)

    @precondition(lambda self: self.world.tasks)
    @rule(index=st.integers(0, 9), paths=st.sampled_from(PATHS), then=st.booleans())
    def repath(self, index: int, paths: tuple[str, ...], then: bool) -> None:
        name = self.pick(list(self.world.tasks), index)
        self.world.put(replace(self.world.tasks[name], paths=paths))
        self.then_pass(then)

    @rule(node=st.sampled_from(NODES), event=st.sampled_from(list(NodeEvent)), then=st.booleans())
    def node_event(self, node: str, event: NodeEvent, then: bool) -> None:
        """A mesh node registers (again: a restart), heartbeats or stops."""
        self.world.node_event(node, event)
        self.then_pass(then)

    @precondition(lambda self: any(self.world.claimable(n) for n in NAMES) and self.world.nodes)
    @rule(index=st.integers(0, 9), node=st.sampled_from(NODES), then=st.booleans())
    def claim_on_node(self, index: int, node: str, then: bool) -> None:
        """A claim by an agent a node runs: the node's heartbeat vouches for the lease."""
        if node in self.world.nodes:
            self.world.claim(self.pick([n for n in NAMES if self.world.claimable(n)], index), "w-1", node=node)
        self.then_pass(then)

    @rule(suspend=st.booleans(), cap=st.booleans(), then=st.booleans())
    def mission_wide(self, suspend: bool, cap: bool, then: bool) -> None:
        ms = self.world.desired.missions[M]
        assert ms.mission is not None
        ms.mission = replace(ms.mission, suspend=suspend, spend_cap=SpendLimit(tokens=0) if cap else SpendLimit())
        self.then_pass(then)

    @precondition(lambda self: self.world.tasks)
    @rule(index=st.integers(0, 9), then=st.booleans())
    def invalidate(self, index: int, then: bool) -> None:
        """A manifest that stops validating: gone from desired state, frozen where it is."""
        name = self.pick(list(self.world.tasks), index)
        self.world.remove(name)
        self.world.invalid = self.world.invalid | {key(name)}
        self.then_pass(then)

    @precondition(lambda self: len(self.world.tasks) < len(NAMES))
    @rule(index=st.integers(0, 9), then=st.booleans())
    def readd_task(self, index: int, then: bool) -> None:
        """Declared again: a manifest that validates (it is not invalid any more)."""
        name = self.pick([n for n in NAMES if n not in self.world.tasks], index)
        self.world.invalid = self.world.invalid - {key(name)}
        self.versions += 1
        self.world.put(self.catalog[name], spec=f"spec-{self.versions}")
        self.then_pass(then)

    @precondition(lambda self: self.world.invalid)
    @rule(index=st.integers(0, 9), then=st.booleans())
    def revalidate(self, index: int, then: bool) -> None:
        k = self.pick(list(self.world.invalid), index)
        self.world.invalid = self.world.invalid - {k}
        self.versions += 1
        self.world.put(self.catalog[k.split("/", 1)[1]], spec=f"spec-{self.versions}")
        self.then_pass(then)

    @rule(index=st.integers(0, 9), then=st.booleans())
    def toggle_held(self, index: int, then: bool) -> None:
        k = key(self.pick(list(NAMES), index))
        if self.world.held.pop(k, None) is None:
            self.world.held[k] = (Reason.CORRUPT_LEASE, "unreadable")
        self.then_pass(then)

    @precondition(lambda self: any(s.phase == Phase.AWAITING_APPROVAL for s in self.world.statuses.values()))
    @rule(then=st.booleans())
    def approve(self, then: bool) -> None:
        for k, s in self.world.statuses.items():
            if s.phase == Phase.AWAITING_APPROVAL and s.result_commit:
                self.world.approved[k] = s.result_commit
        self.then_pass(then)

    # Rewired needs, suspension, caps and holds void the liveness and soundness properties the
    # decide machine checks: this machine checks equivalence (in World.reconcile) and that a
    # pass reaches a fixed point.
    def after_a_pass(self) -> None:
        pass

    def check_pass(self, before: dict[str, TaskStatus], plan: Plan) -> None:
        pass

    def teardown(self) -> None:
        pass


IncrementalMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestIncrementalMachine = IncrementalMachine.TestCase


def test_without_changes_it_decides_everything() -> None:
    """No `Changes` (a first pass, or a caller that cannot tell): the full decision."""
    world = World.of(task("a"), task("b", needs=["a"]))
    inc = IncrementalDecider()
    inputs = {"desired": world.desired, "specs": world.specs, "statuses": {}, "leases": {}, "now": world.now}
    same_plan(decide(**inputs), inc.decide(**inputs), None)  # type: ignore[arg-type]


def test_with_no_change_a_pass_looks_at_nothing() -> None:
    world = World.of(*(task(f"t{i}") for i in range(50)))
    world.reconcile()
    world.reconcile()
    inc = world.incremental
    plan = inc.decide(**world.inputs(), changes=Changes())
    assert plan.statuses == {}
    assert plan.transitions == []


def test_a_node_record_changes_the_expiry_of_the_leases_it_vouches_for() -> None:
    """A node's heartbeat extends its leases; its stop ends that: both seen without the lease
    chains moving (World.reconcile compares with the full decision at each pass)."""
    world = World.of(task("a"), task("b"))
    world.node_event("n1", NodeEvent.REGISTER)
    world.reconcile()
    world.claim("a", node="n1")
    world.claim("b")  # not vouched: the node changes nothing for it
    world.reconcile()
    world.tick(20)
    world.node_event("n1", NodeEvent.HEARTBEAT)
    world.reconcile()
    world.tick(20)  # past the lease's own expiry, within the node's heartbeat
    world.reconcile()
    assert world.phase("a") != Phase.QUEUED
    world.node_event("n1", NodeEvent.STOP)
    world.reconcile()
    assert world.phase("a") == Phase.QUEUED  # expired: the stopped node vouches no more
