"""A small simulated world around decide(), the pure step of a reconcile pass.

`World` plays the parts around decide the way the real system does: agents claim Queued tasks
from the last status, the holder of the current lease heartbeats, completes, fails or
releases, and the reconciler applies the plan's lease actions before storing its statuses.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.control.decide import Plan, decide
from reconciler.control.incremental import Changes, IncrementalDecider
from reconciler.manifests.desired import DesiredState
from reconciler.manifests.model import (
    Agent,
    AgentRef,
    Kluster,
    Meta,
    Mission,
    Policy,
    Retries,
    Task,
)
from reconciler.vocabulary.conditions import ConditionType, Reason
from reconciler.vocabulary.leases import Lease, LeaseState
from reconciler.vocabulary.nodes import NodeEvent, NodeRecord
from reconciler.vocabulary.phases import Phase, check_transition
from reconciler.vocabulary.status import TaskStatus

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
    held: dict[str, tuple[Reason, str]] = field(default_factory=dict)
    approved: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)  # mesh nodes, vouching for leases
    incremental: IncrementalDecider = field(default_factory=IncrementalDecider)
    seen_inputs: tuple[dict[str, Any], ...] | None = None

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
        plan = decide(**self.inputs())
        assert self.statuses == statuses_before, "decide mutated its input statuses"
        # every pass of every test also checks that the incremental decision gives the same plan
        changes = self._changes()
        same_plan(plan, self.incremental.decide(**self.inputs(), changes=changes), changes)
        check_plan(plan, self.statuses)
        for action in plan.lease_actions:
            assert action.action in ("expire", "revoke", "fence")
            assert leases_before.get(action.key) == action.lease
            if action.action == "fence":  # the chain is closed at a generation no claim used
                assert action.generation > (action.lease.generation if action.lease else 0)
                now = self.now
                tomb = Lease(action.key, action.generation, "mc-reconciler", None, LeaseState.REVOKED, now, now, now, 0)
                self.chains.setdefault(action.key, []).append(tomb)
                continue
            assert action.lease is not None
            state = "expired" if action.action == "expire" else "revoked"
            self.chains[action.key].append(replace(action.lease, state=LeaseState(state), renewed_at=self.now))
        self.statuses = {**self.statuses, **plan.statuses}
        self.plans.append(plan)
        self.last_pass = (self.statuses, self.leases, self.now, frozenset(self.tasks))
        return plan

    def inputs(self) -> dict[str, Any]:
        return {
            "desired": self.desired,
            "specs": self.specs,
            "statuses": self.statuses,
            "leases": self.leases,
            "now": self.now,
            "invalid": self.invalid,
            "held": self.held,
            "approved": self.approved,
            "nodes": dict(self.nodes),
        }

    def _changes(self) -> Changes | None:
        """What changed since the last pass, found the slow way: by comparing everything."""
        tasks: dict[str, Any] = {t.key: t for t in self.desired.tasks()}
        missions: dict[str, Any] = {
            name: (ms.mission, dict(ms.klusters), dict(ms.agents), dict(ms.policies))
            for name, ms in self.desired.missions.items()
        }
        seen: tuple[dict[str, Any], ...] = (tasks, dict(self.specs), dict(self.statuses), dict(self.leases), missions)
        before, self.seen_inputs = self.seen_inputs, seen
        if before is None:
            return None
        changed: set[str] = set()
        for old, new in zip(before[:4], seen[:4], strict=True):
            changed |= {k for k in set(old) | set(new) if old.get(k) is not new.get(k) and old.get(k) != new.get(k)}
        moved = {m for m in set(before[4]) | set(missions) if before[4].get(m) != missions.get(m)}
        return Changes(frozenset(changed), frozenset(moved))

    # -- agents ----------------------------------------------------------------------------------
    def claimable(self, name: str) -> bool:
        st = self.statuses.get(key(name))
        if st is None or st.phase != Phase.QUEUED or name not in self.tasks:
            return False
        if st.not_before is not None and st.not_before > self.now:
            return False
        tip = self.leases.get(key(name))
        return tip is None or (tip.generation <= st.generation and not tip.live(self.now))

    def node_event(self, node: str, event: NodeEvent, ttl: float = TTL) -> None:
        """A mesh node registers, heartbeats or stops: a vouched lease lives as long as its
        node's heartbeat (`vocabulary.nodes.lease_expiry`)."""
        old = self.nodes.get(node)
        started = self.now if old is None or event is NodeEvent.REGISTER else old.started_at
        self.nodes[node] = NodeRecord(node, event, {}, 4, [], "test", started, self.now, ttl)

    def claim(self, name: str, agent: str = "w-1", ttl: float = TTL, node: str | None = None) -> Lease:
        """Claim `name`; on `node` (which must have registered), a lease that node vouches for."""
        assert self.claimable(name), f"{name} is not claimable"
        st = self.statuses[key(name)]
        tip = self.leases.get(key(name))
        generation = max(st.generation, tip.generation if tip else 0) + 1
        lease = Lease(
            key(name),
            generation,
            agent,
            node or "node-1",
            LeaseState.ACTIVE,
            self.now,
            self.now,
            self.now + ttl,
            ttl,
            vouched=node is not None,
        )
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
        if tip.state != LeaseState.ACTIVE:
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
                state=LeaseState.COMPLETED,
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
        return self._append(replace(lease, state=LeaseState(state), reason=reason, renewed_at=self.now))

    def act(self, name: str, action: str, generation: int | None = None) -> Lease:
        """A report by the holder of `generation`: heartbeat, complete, failed or released."""
        if action == "heartbeat":
            return self.heartbeat(name, generation)
        if action == "complete":
            return self.complete(name, {"summary": "late"}, generation)
        return self.end(name, action, "late", generation)


def same_plan(full: Plan, incremental: Plan, changes: Changes | None) -> None:
    """The incremental decision is the full one (transitions compared task by task: the order
    between tasks is the order they were looked at)."""
    why = f"incremental decision differs (changes: {changes})"
    assert incremental.statuses == full.statuses, why
    assert _by_task(incremental.transitions) == _by_task(full.transitions), why
    assert _by_task(incremental.lease_actions) == _by_task(full.lease_actions), why
    assert incremental.held == full.held, why
    assert incremental.wake_at == full.wake_at, why


def _by_task(items: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in items:
        out.setdefault(item.key, []).append(item)
    return out


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
    cond = world.status(name).condition(ConditionType(type_))
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
