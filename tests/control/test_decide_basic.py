"""decide(): the basic path from declaration to a result."""

from __future__ import annotations

from reconciler.manifests.model import (
    Retries,
)
from reconciler.vocabulary.phases import Phase
from tests.control.decide_world import (
    SCHEMA,
    T0,
    World,
    reasons,
    run_to_running,
    task,
)


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
