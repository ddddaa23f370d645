"""decide(): failures, retries with backoff, expiry and fencing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.control.decide import decide
from reconciler.manifests.model import (
    Retries,
)
from reconciler.vocabulary.leases import LeaseState
from reconciler.vocabulary.phases import Phase
from tests.control.decide_world import (
    TTL,
    Refused,
    World,
    run_to_leased,
    run_to_running,
    task,
)


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
    assert st.attempts == 0  # the released attempt is given back
    assert world.claimable("a")
    assert world.claim("a").generation == 2
    world.reconcile()
    assert world.status("a").attempts == 1  # attempt 1 of 2, not 2 of 2


def test_expired_lease_is_expired_and_requeued_in_one_pass() -> None:
    world = World.of(task("a"))
    world.reconcile()
    lease = run_to_running(world, "a")
    world.tick(TTL + 1)
    with pytest.raises(Refused):
        world.heartbeat("a")
    plan = world.reconcile()
    assert [(a.key, a.action, a.lease) for a in plan.lease_actions] == [("m/a", "expire", lease)]
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
    crashed.chains["m/a"].append(
        replace(lease, state=LeaseState.EXPIRED, renewed_at=crashed.now)
    )  # lease written, no status
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
    stale = replace(world.lease("a"), state=LeaseState.COMPLETED)
    plan = decide(world.desired, world.specs, world.statuses, {"m/a": stale}, world.now)
    assert plan.statuses == {}
    assert st.phase == Phase.QUEUED
