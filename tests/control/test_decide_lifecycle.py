"""decide(): removal, re-declaration, invalid manifests and spec changes."""

from __future__ import annotations

import pytest

from reconciler.vocabulary.conditions import ConditionType
from reconciler.vocabulary.leases import Lease, LeaseState
from reconciler.vocabulary.phases import Phase
from tests.control.decide_world import (
    TTL,
    Refused,
    World,
    phases,
    reasons,
    run_to_running,
    task,
)


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


def test_removed_queued_task_is_cancelled_and_its_chain_fenced() -> None:
    """It was claimable in the last queue: the chain is closed at a generation no claim used, so a
    claim that read that queue cannot land afterwards (its CAS sees the fence)."""
    world = World.of(task("a"))
    world.reconcile()
    world.remove("a")
    plan = world.reconcile()
    assert [(c.key, c.action, c.lease, c.generation) for c in plan.lease_actions] == [("m/a", "fence", None, 1)]
    assert world.phase("a") == Phase.CANCELLED
    assert world.status("a").generation == 1
    world.put(task("a"))
    world.reconcile()
    assert world.claim("a").generation == 2  # a re-declared task starts above the fence


def test_removed_pending_task_is_cancelled_without_lease_action() -> None:
    world = World.of(task("a", needs=["b"]), task("b"))
    world.reconcile()
    world.remove("a")
    plan = world.reconcile()
    assert plan.lease_actions == []  # never in a queue: nothing could claim it
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
    # nothing live to revoke, and nothing to fence: a claim from the old queue sees generation 1
    assert plan.lease_actions == []
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
    assert world.status("a").condition(ConditionType.MANIFEST_VALID) is None
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
    assert st.condition(ConditionType.SPEC_CHANGED) is None
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
    assert st.condition(ConditionType.SPEC_CHANGED) is None
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
    assert st.condition(ConditionType.SPEC_CHANGED) is None


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
    assert "not applied" in st.condition(ConditionType.SPEC_CHANGED).message  # type: ignore[union-attr]


@pytest.mark.parametrize("how", ["suspend", "dependency"])
def test_a_task_that_leaves_queued_without_a_grant_has_its_chain_fenced(how: str) -> None:
    """A claim that read the last queue must not land on a task that went back to Pending."""
    world = World.of(task("a"), task("b"))
    world.reconcile()
    if how == "suspend":
        world.put(task("a", suspend=True), spec="spec-2")
    else:
        world.put(task("a", needs=["b"]), spec="spec-2")
    plan = world.reconcile()
    assert world.phase("a") == Phase.PENDING
    assert [(c.key, c.action, c.generation) for c in plan.lease_actions] == [("m/a", "fence", 1)]
    assert world.status("a").generation == 1


def test_a_fence_whose_pass_died_before_its_status_is_adopted_silently() -> None:
    world = World.of(task("a"))
    world.reconcile()
    now = world.now
    tomb = Lease("m/a", 1, "mc-reconciler", None, LeaseState.REVOKED, now, now, now, 0)
    world.chains["m/a"] = [tomb]  # the fence landed, the status write did not
    plan = world.reconcile()
    assert plan.transitions == []
    assert world.status("a").generation == 1
    assert world.phase("a") == Phase.QUEUED
    assert world.claim("a").generation == 2
