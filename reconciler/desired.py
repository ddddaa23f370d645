"""The desired state: every valid manifest of a snapshot, indexed by mission, kind and name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.manifest_file import ManifestFile
from reconciler.model import Agent, Kluster, Manifest, Mission, Policy, Principals, Task


@dataclass(slots=True)
class MissionState:
    name: str
    mission: Mission | None = None
    klusters: dict[str, Kluster] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)

    def table(self, kind: str) -> dict[str, Manifest]:
        tables: dict[str, dict[str, Manifest]] = {
            "Kluster": self.klusters,  # type: ignore[dict-item]
            "Agent": self.agents,  # type: ignore[dict-item]
            "Policy": self.policies,  # type: ignore[dict-item]
            "Task": self.tasks,  # type: ignore[dict-item]
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
