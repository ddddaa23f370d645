"""The queue kept from pass to pass (`control/queue_build.py`): after any sequence of status and
manifest changes, the files it has given add up to exactly the files built from scratch, and it
looks only at the tasks that changed."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import count
from pathlib import Path
from typing import Any

import pygit2
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.control.queue_build import QueueBuilder, StatusQueue, queue_index
from reconciler.gitstate.queue import (
    LEGACY_FILE,
    META_FILE,
    QUEUE_DIR,
    QueueEntry,
    QueueIndex,
    QueueMeta,
    cut_level,
    encode_queue,
)
from reconciler.manifests.desired import DesiredState
from reconciler.manifests.model import Agent, AgentRef, Budget, Meta, Mission, Task
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.phases import HELD, Phase
from reconciler.vocabulary.status import TaskStatus
from tests.queue_trees import commit_files, tree_files

MISSIONS = ("m", "n")


def _names(mission: str) -> list[str]:
    """Task names whose keys cut at every level: 6 directory cuts, 10 page cuts, 10 others."""
    found: dict[int, list[str]] = {0: [], 1: [], 2: []}
    wanted = {0: 10, 1: 10, 2: 6}
    for i in count():
        name = f"t{i}"
        level = cut_level(f"{mission}/{name}")
        if len(found[level]) < wanted[level]:
            found[level].append(name)
        if all(len(found[lv]) == n for lv, n in wanted.items()):
            return [n for lv in (0, 1, 2) for n in found[lv]]
    raise AssertionError("unreachable")


KEYS = [TaskKey.of(m, n) for m in MISSIONS for n in _names(m)]
SELECTORS = (
    AgentRef(name="w"),
    AgentRef(name="x"),
    AgentRef(match_labels={"role": "worker"}),
    AgentRef(match_labels={"tier": "gold"}),
    AgentRef(name="ghost"),
)
AGENTS: tuple[dict[str, list[tuple[str, dict[str, str], int, int | None]]], ...] = (
    {
        "m": [("w", {"role": "worker"}, 1, None), ("x", {"role": "worker", "tier": "gold"}, 2, None)],
        "n": [("w", {"role": "worker"}, 1, None)],
    },
    {
        "m": [("w", {"role": "worker"}, 1, None), ("x", {"tier": "gold"}, 2, None)],
        "n": [("w", {}, 1, 5), ("y", {"role": "worker"}, 4, None)],
    },
    {"m": [("w", {"role": "worker"}, 3, 100)], "n": [], "o": []},
)


@dataclass
class World:
    tasks: dict[str, Task] = field(default_factory=dict)
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    agents: int = 0
    specs: dict[str, str] = field(default_factory=dict)

    def desired(self) -> DesiredState:
        ds = DesiredState()
        for mission, agents in AGENTS[self.agents].items():
            ms = ds.mission(mission)
            ms.mission = Mission(Meta(mission), None, f"missions/{mission}/mission.yaml")
            for name, labels, replicas, tokens in agents:
                ms.agents[name] = Agent(
                    Meta(name, labels),
                    mission,
                    f"missions/{mission}/agents/{name}.yaml",
                    replicas=replicas,
                    budget=Budget(tokens=tokens),
                )
        for key, task in self.tasks.items():
            ds.mission(TaskKey(key).mission).tasks[TaskKey(key).name] = task
        return ds


def oracle(statuses: Mapping[str, TaskStatus], desired: DesiredState) -> QueueIndex:
    """The queue as every pass computed it before it was kept between passes."""
    entries: list[QueueEntry] = []
    running: dict[str, int] = {}
    tasks: dict[str, Task] = {t.key: t for t in desired.tasks()}
    for key, s in sorted(statuses.items()):
        if s.phase in HELD and s.holder:
            running[s.holder] = running.get(s.holder, 0) + 1
        task = tasks.get(key)
        if s.phase != Phase.QUEUED or task is None:
            continue
        agents = tuple(a.agent_id for a in desired.missions[s.mission].agents_for(task))
        found = (statuses.get(TaskKey.of(s.mission, n)) for n in task.needs)
        results = tuple(f.result_commit for f in found if f is not None and f.result_commit)
        entries.append(
            QueueEntry(
                s.key,
                task.priority,
                s.created,
                s.not_before,
                s.generation,
                s.spec,
                agents,
                task.timeout_seconds,
                results,
            )
        )
    declared = [a for ms in desired.missions.values() for a in ms.agents.values()]
    replicas = {a.agent_id: a.replicas for a in declared}
    budgets = {a.agent_id: a.budget.spend_limit for a in declared if a.budget.spend_limit}
    return QueueIndex(entries, QueueMeta(running, replicas, sorted(desired.missions), budgets))


keys = st.sampled_from(KEYS)
phases = st.sampled_from(
    [
        Phase.PENDING,
        Phase.QUEUED,
        Phase.QUEUED,
        Phase.QUEUED,
        Phase.LEASED,
        Phase.RUNNING,
        Phase.SUCCEEDED,
        Phase.CANCELLED,
    ]
)
status_op = st.tuples(
    st.just("status"),
    keys,
    phases,
    st.sampled_from([1000.0, 1000.0, 1001.5, 999.25]),
    st.none() | st.just(1005.0),
    st.integers(0, 3),
    st.sampled_from([None, "w-1", "x-2"]),
    st.sampled_from([None, "r" * 40, "s" * 40]),
)
task_op = st.tuples(
    st.just("task"),
    keys,
    st.sampled_from([0, 50, 50, 1000]),
    st.sampled_from(SELECTORS),
    st.lists(st.sampled_from([n for n in _names("m")[:6]]), max_size=3, unique=True),
    st.sampled_from([60, 3600]),
)
ops = st.one_of(
    *[status_op] * 6,
    *[task_op] * 4,
    st.tuples(st.just("drop"), keys),
    st.tuples(st.just("forget"), keys),
    st.tuples(st.just("agents"), st.integers(0, len(AGENTS) - 1)),
    st.tuples(st.just("rebuild")),
)


def apply(world: World, op: tuple[Any, ...]) -> set[str] | None:
    """Change `world` by `op`; the tasks whose status or manifest changed (None: rebuild)."""
    kind = op[0]
    if kind == "status":
        _, key, phase, created, not_before, generation, holder, result = op
        world.statuses[key] = TaskStatus(
            key,
            phase,
            created,
            created,
            world.specs.get(key, "0" * 40),
            generation,
            not_before=not_before,
            holder=holder,
            result_commit=result,
        )
        return {key}
    if kind == "task":
        _, key, priority, selector, needs, timeout = op
        tk = TaskKey(key)
        world.tasks[key] = Task(
            Meta(tk.name),
            tk.mission,
            f"missions/{tk.mission}/tasks/{tk.name}.yaml",
            priority=priority,
            agent=selector,
            needs=tuple(needs),
            timeout_seconds=timeout,
        )
        world.specs[key] = f"{len(world.specs) + 1:040x}"
        return {key}
    if kind in ("drop", "forget"):
        (world.tasks if kind == "drop" else world.statuses).pop(op[1], None)
        return {op[1]}
    if kind == "agents":
        world.agents = op[1]
        return set()
    return None


def settle(files: dict[str, bytes], out: Mapping[str, bytes | None]) -> None:
    for path, data in out.items():
        if data is None:
            assert path in files, f"deletes {path}, which is not there"
            del files[path]
        else:
            assert files.get(path) != data, f"rewrites {path} unchanged"
            files[path] = data


initial = st.lists(
    st.tuples(
        st.sampled_from([0, 50, 50, 1000]),
        st.sampled_from([*SELECTORS[:3], *SELECTORS[:3], *SELECTORS[3:]]),
        st.sampled_from([Phase.QUEUED] * 4 + [Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED]),
        st.sampled_from([1000.0, 1001.5, 999.25]),
    ),
    min_size=len(KEYS),
    max_size=len(KEYS),
)


@settings(max_examples=300, deadline=None)
@given(initial, st.lists(ops, min_size=1, max_size=60))
def test_the_kept_queue_is_always_the_queue_built_from_scratch(
    start: list[tuple[int, AgentRef, Phase, float]], steps: list[tuple[Any, ...]]
) -> None:
    world, builder, files = World(), QueueBuilder(), dict[str, bytes]()
    for key, (priority, selector, phase, created) in zip(KEYS, start, strict=True):
        apply(world, ("task", key, priority, selector, [], 60))
        apply(world, ("status", key, phase, created, None, 0, "w-1" if phase == Phase.RUNNING else None, "r" * 40))
    settle(files, builder.files(world.statuses, None, world.desired()))
    for op in steps:
        changed = apply(world, op)
        desired = world.desired()
        settle(files, builder.files(world.statuses, changed, desired))
        assert files == encode_queue(oracle(world.statuses, desired)), op
        assert queue_index(world.statuses, desired).tasks == sorted(
            oracle(world.statuses, desired).tasks, key=lambda e: e.order
        )


def test_a_first_build_replaces_what_the_tree_held_and_writes_nothing_it_already_holds() -> None:
    world = World()
    for i, key in enumerate(KEYS[:12]):
        apply(world, ("task", key, 50, SELECTORS[2], [], 60))
        apply(world, ("status", key, Phase.QUEUED if i % 3 else Phase.LEASED, 1000.0 + i, None, 0, "w-1", None))
    desired = world.desired()
    want = encode_queue(oracle(world.statuses, desired))
    stale = {LEGACY_FILE: "1" * 40, f"{QUEUE_DIR}/gone-00000000/head/head.json": "2" * 40}
    builder = QueueBuilder()
    builder.adopt({**stale, **{p: str(pygit2.hash(d)) for p, d in want.items() if p != META_FILE}})
    out = builder.files(world.statuses, None, desired)
    assert out == {**dict.fromkeys(stale), META_FILE: want[META_FILE]}
    assert builder.files(world.statuses, set(), desired) == {}


class Watched(Mapping[str, TaskStatus]):
    """Statuses that record which were looked at."""

    def __init__(self, data: dict[str, TaskStatus]) -> None:
        self.data, self.read, self.walked = data, set[str](), False

    def __getitem__(self, key: str) -> TaskStatus:
        self.read.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        self.walked = True
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_an_update_looks_only_at_the_tasks_that_changed_and_those_that_need_them() -> None:
    world = World()
    for i in range(2000):
        key = TaskKey.of("m", f"bulk-{i}")
        world.tasks[key] = Task(Meta(key.name), "m", "", agent=SELECTORS[0], needs=("t0",) if i < 3 else ())
        world.statuses[key] = TaskStatus(key, Phase.QUEUED, 1000.0 + i, 1000.0, "0" * 40)
    apply(world, ("task", "m/t0", 50, SELECTORS[0], [], 60))
    apply(world, ("status", "m/t0", Phase.RUNNING, 1.0, None, 1, "w-1", None))
    desired = world.desired()
    builder = QueueBuilder()
    builder.files(world.statuses, None, desired)
    apply(world, ("status", "m/t0", Phase.SUCCEEDED, 1.0, None, 1, None, "r" * 40))
    watched = Watched(world.statuses)
    out = builder.files(watched, {"m/t0"}, desired)
    assert not watched.walked
    assert watched.read <= {"m/t0", "m/bulk-0", "m/bulk-1", "m/bulk-2"}
    assert len(out) <= 4  # the meta and the pages of the three tasks that need it
    pages = b"".join(d for p, d in out.items() if d is not None and p != META_FILE)
    assert pages.count(b'"results":["' + b"r" * 40 + b'"]') == 3


def test_the_status_queue_follows_the_chain_and_rebuilds_when_it_cannot_vouch_for_it(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    world = World()
    for key in KEYS[:8]:
        apply(world, ("task", key, 50, SELECTORS[2], [], 60))
        apply(world, ("status", key, Phase.QUEUED, 1000.0, None, 0, None, None))
    queue = StatusQueue()

    def status_files(changed: set[str]) -> dict[str, bytes | None]:
        return {f"{k}.json": repr(world.statuses.get(k)).encode() for k in changed}

    def write(tip: str | None, changed: set[str], *, land: bool = True) -> str | None:
        desired = world.desired()
        out = queue.files(repo, tip, True, dict(world.statuses), changed, desired, dict(world.specs))
        if not land:
            return tip
        new = commit_files(repo, tip, {**status_files(changed), **out})
        assert tree_files(repo, new, QUEUE_DIR) == encode_queue(oracle(world.statuses, desired))
        return new

    tip = write(None, set(KEYS[:8]))
    changed = apply(world, ("status", KEYS[0], Phase.LEASED, 1000.0, None, 1, "w-1", None))
    assert changed is not None
    tip = write(tip, changed)
    # another writer changes a status behind its back: the diff shows it, the queue follows
    del world.statuses[KEYS[1]]
    tip = commit_files(repo, tip, {f"{KEYS[1]}.json": b"garbage"})
    tip = write(tip, set())
    assert tip is not None
    # a write that does not land: the next call cannot vouch for the tree, and rebuilds
    changed = apply(world, ("status", KEYS[2], Phase.LEASED, 1000.0, None, 1, "w-1", None))
    assert changed is not None
    write(tip, changed, land=False)
    world.statuses[KEYS[2]] = replace(world.statuses[KEYS[2]], phase=Phase.QUEUED, generation=0, holder=None)
    write(tip, set())


def test_times_are_written_as_the_status_records_them_so_a_restart_rewrites_nothing() -> None:
    """A status file keeps times to the millisecond: the queue built from the statuses a pass
    holds in memory and the queue built from those statuses read back are the same files."""
    world = World()
    for i, key in enumerate(KEYS[:10]):
        apply(world, ("task", key, 50, SELECTORS[0], [], 60))
        apply(world, ("status", key, Phase.QUEUED, 1000.0, None, 0, None, None))
        world.statuses[key] = replace(
            world.statuses[key], created=1_712_345_678.123_456_7 + i / 7, not_before=1e9 + i / 3
        )
    desired = world.desired()
    read_back = {k: TaskStatus.from_dict(json.loads(s.to_json())) for k, s in world.statuses.items()}
    assert read_back != world.statuses
    assert QueueBuilder().files(world.statuses, None, desired) == QueueBuilder().files(read_back, None, desired)
