"""decide(): dependencies, blocking and unblocking."""

from __future__ import annotations

from reconciler.manifests.model import (
    Retries,
)
from reconciler.vocabulary.conditions import ConditionType
from reconciler.vocabulary.phases import Phase
from tests.control.decide_world import (
    World,
    phases,
    reasons,
    run_to_running,
    task,
)


def test_dependent_waits_then_is_queued_in_the_pass_its_need_succeeds() -> None:
    world = World.of(task("a"), task("b", needs=["a"]), task("c", needs=["b"]))
    world.reconcile()
    assert phases(world) == {"a": Phase.QUEUED, "b": Phase.PENDING, "c": Phase.PENDING}
    assert reasons(world, "b") == (False, "WaitingForDependencies")
    assert world.status("b").condition(ConditionType.READY).message == "waiting for a"  # type: ignore[union-attr]

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


def test_a_dependency_cycle_is_named_on_every_task_of_it() -> None:
    world = World.of(task("a", needs=["c"]), task("b", needs=["a"]), task("c", needs=["b"]), task("d", needs=["a"]))
    world.reconcile()
    for name in ("a", "b", "c"):
        assert reasons(world, name) == (False, "DependencyCycle")
        cond = world.status(name).condition(ConditionType.READY)
        assert cond is not None
        assert "a -> c -> b -> a" in cond.message
    assert reasons(world, "d") == (False, "WaitingForDependencies")  # behind the cycle, not on it
