"""decide(): admission by path scope, priority and holds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.manifests.model import (
    Meta,
    Policy,
    Retries,
    Rule,
    RuleMatch,
)
from reconciler.vocabulary.conditions import ConditionType
from reconciler.vocabulary.kinds import PolicyAction, PolicyState
from reconciler.vocabulary.phases import Phase
from tests.control.decide_world import (
    M,
    World,
    phases,
    reasons,
    run_to_running,
    task,
)


def test_overlapping_paths_admit_only_the_higher_priority_task() -> None:
    world = World.of(task("a", paths=["src/a.py"], priority=10), task("b", paths=["src/**"], priority=90))
    world.reconcile()
    assert phases(world) == {"a": Phase.PENDING, "b": Phase.QUEUED}
    assert reasons(world, "a") == (False, "ScopeOverlap")
    assert "m/b" in world.status("a").condition(ConditionType.READY).message  # type: ignore[union-attr]

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
    assert "m/z" in world.status("a").condition(ConditionType.READY).message  # type: ignore[union-attr]


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
        state=PolicyState(state),
        rules=(Rule("needs-ok", PolicyAction(action), match=RuleMatch(tasks=tasks)),),
    )


def test_active_run_rule_holds_the_task() -> None:
    world = World.of(task("a"), task("b"), policies=[run_policy("active")])
    world.reconcile()
    assert phases(world) == {"a": Phase.PENDING, "b": Phase.QUEUED}
    assert reasons(world, "a") == (False, "RunApprovalRequired")
    assert "gate" in world.status("a").condition(ConditionType.READY).message  # type: ignore[union-attr]


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
