"""decide(): when the reconciler must wake up next."""

from __future__ import annotations

from tests.control.decide_world import (
    T0,
    World,
    task,
)


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
