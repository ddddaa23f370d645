"""The desired state: every valid manifest of a snapshot, indexed by mission, kind and name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.manifests.manifest_file import ManifestFile
from reconciler.manifests.model import Agent, Kluster, Manifest, Mission, Policy, Principals, Task
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import Kind


@dataclass(slots=True)
class MissionState:
    name: str
    mission: Mission | None = None
    klusters: dict[str, Kluster] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)

    def table(self, kind: Kind) -> dict[str, Manifest]:
        tables: dict[Kind, dict[str, Manifest]] = {
            Kind.KLUSTER: self.klusters,  # type: ignore[dict-item]
            Kind.AGENT: self.agents,  # type: ignore[dict-item]
            Kind.POLICY: self.policies,  # type: ignore[dict-item]
            Kind.TASK: self.tasks,  # type: ignore[dict-item]
        }
        return tables[kind]

    def agents_for(self, task: Task) -> list[Agent]:
        return [a for a in self.agents.values() if task.agent.matches(a)]


@dataclass(slots=True)
class DesiredState:
    principals: Principals | None = None
    missions: dict[str, MissionState] = field(default_factory=dict)

    def mission(self, name: str) -> MissionState:
        if name not in self.missions:
            self.missions[name] = MissionState(name)
        return self.missions[name]

    def tasks(self) -> Iterable[Task]:
        for state in self.missions.values():
            yield from state.tasks.values()

    def task(self, key: TaskKey) -> Task | None:
        """The task `mission/name`, or None if it is not declared."""
        ms = self.missions.get(key.mission)
        return ms.tasks.get(key.name) if ms is not None else None


def index(files: Iterable[ManifestFile]) -> DesiredState:
    """Index the valid manifests; of two with the same name, the first by path wins."""
    state = DesiredState()
    for mf in sorted(files, key=lambda f: f.path):
        obj = mf.obj
        if obj is None:
            continue
        if isinstance(obj, Principals):
            state.principals = obj
        elif isinstance(obj, Mission):
            state.mission(obj.name).mission = obj
        else:
            assert obj.mission is not None
            state.mission(obj.mission).table(obj.kind).setdefault(obj.name, obj)
    return state


def stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def named_for_file(mf: ManifestFile) -> bool:
    """A task file that declares its file's name (so `index` needs no tie-break for it)."""
    return mf.location.kind == Kind.TASK and mf.declared_name() == stem(mf.path)


def reindex(
    state: DesiredState, changes: Iterable[tuple[ManifestFile | None, ManifestFile | None]]
) -> DesiredState | None:
    """`state` with changed task files (before, after) applied, as `index` would index them all.

    The missions' task tables are changed in place (a commit costs what it changed, not a copy
    of every task; the caller holds the only index); the DesiredState and its missions table
    are new, so whoever compares states by identity sees the change.

    None, with nothing changed, unless every file is a task file named for its file: another
    name could tie with a task of another file, which only a full `index` (first by path)
    settles. The caller must also know that no other task file is named otherwise
    (`named_for_file`)."""
    changes = list(changes)
    for before, after in changes:
        files = [mf for mf in (before, after) if mf is not None]
        if not files or not all(named_for_file(mf) for mf in files):
            return None
    missions = dict(state.missions)
    for before, after in changes:
        mission = next(mf for mf in (before, after) if mf is not None).location.mission or ""
        old = before.obj if before is not None else None
        new = after.obj if after is not None else None
        if mission not in missions and isinstance(new, Task):
            missions[mission] = MissionState(mission)
        ms = missions.get(mission)
        if ms is None:
            continue
        if old is not None:
            ms.tasks.pop(old.name, None)
        if isinstance(new, Task):
            ms.tasks[new.name] = new
        if ms.mission is None and not (ms.klusters or ms.agents or ms.policies or ms.tasks):
            del missions[mission]  # as `index` would have it: nothing declares it any more
    return DesiredState(state.principals, missions)
