"""decide(): random interleavings of reconciler, agents, clock and authors (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reconciler.control.decide import Plan, decide
from reconciler.manifests.globs import scopes_overlap
from reconciler.manifests.model import (
    Retries,
    Task,
)
from reconciler.vocabulary.phases import HELD, TERMINAL, Phase
from reconciler.vocabulary.status import TaskStatus
from tests.control.decide_world import (
    OCCUPYING,
    SCHEMA,
    Refused,
    World,
    key,
    task,
)

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
        again = decide(**w.inputs())
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
            assert new.failures >= old.failures
            # attempts used: the failed ones, plus the one in flight (a release gives it back)
            in_flight = new.phase in HELD or new.phase in (Phase.SUCCEEDED, Phase.AWAITING_APPROVAL)
            assert new.attempts == new.failures + (1 if in_flight else 0), new
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
