"""Spend in the decision: every ended attempt's spend is added to its task once, whichever way
the attempt ends, and a mission's cap counts each dollar once."""

from __future__ import annotations

from dataclasses import replace

from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.spend import Spend, SpendLimit
from tests.control.decide_world import TTL, M, World, task


def capped(world: World, dollars: float) -> World:
    ms = world.desired.missions[M]
    assert ms.mission is not None
    ms.mission = replace(ms.mission, spend_cap=SpendLimit(cost_usd=dollars))
    return world


def spend(world: World, name: str, dollars: float) -> None:
    """The holder reports spend (`mc usage`): a renewal carrying the new total."""
    lease = world.heartbeat(name)
    world.chains[lease.key][-1] = replace(lease, spend=lease.spend + Spend(0, dollars))


def test_the_pass_that_ends_an_attempt_counts_its_spend_once_against_the_cap() -> None:
    world = capped(World.of(task("a"), task("b")), 10.0)
    world.reconcile()
    world.claim("a")
    world.reconcile()
    spend(world, "a", 6.0)
    world.reconcile()
    assert world.phase("b") == Phase.QUEUED  # $6 of $10
    world.tick(TTL + 1)
    world.reconcile()  # a expires: its $6 moves from the live lease to the status
    assert world.status("a").spend == Spend(0, 6.0)
    assert world.phase("b") == Phase.QUEUED  # still $6, not $12


def test_the_cap_holds_new_work_and_lets_the_running_attempt_finish() -> None:
    world = capped(World.of(task("a"), task("b")), 5.0)
    world.reconcile()
    world.claim("a")
    world.reconcile()
    spend(world, "a", 5.0)
    world.reconcile()
    assert world.phase("b") == Phase.PENDING
    assert world.phase("a") == Phase.RUNNING  # never revoked for the cap
    world.complete("a", {"summary": "ok"})
    world.reconcile()
    assert (world.phase("a"), world.status("a").spend) == (Phase.SUCCEEDED, Spend(0, 5.0))
    assert world.phase("b") == Phase.PENDING


def test_spend_adds_up_over_attempts_and_survives_removal() -> None:
    world = World.of(task("a"))
    world.reconcile()
    world.claim("a")
    spend(world, "a", 2.0)
    world.end("a", "failed", "broke")
    world.reconcile()
    assert world.status("a").spend == Spend(0, 2.0)
    world.tick(60)
    world.reconcile()
    world.claim("a")
    world.reconcile()
    spend(world, "a", 1.0)
    world.complete("a", {"summary": "done"})  # ended, but no pass has seen it yet ...
    world.remove("a")  # ... when the task is removed
    world.reconcile()
    assert (world.phase("a"), world.status("a").spend) == (Phase.CANCELLED, Spend(0, 3.0))
