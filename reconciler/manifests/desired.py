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
