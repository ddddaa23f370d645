"""The task manifest's types, and what every manifest has (`Meta`, `Manifest`).

Apart from the other kinds (`model`, which builds every kind and names these too) so that
`mc complete`, which builds the one task it reports on, defines five frozen dataclasses rather
than twenty: about 10 ms of the command's start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import Kind

if TYPE_CHECKING:
    from reconciler.manifests.model import Agent


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if value else _EMPTY  # one empty mapping for all


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    """Fields every manifest has: identity, the mission it belongs to, and its source file."""

    kind: ClassVar[Kind]
    meta: Meta
    mission: str | None
    path: str

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def key(self) -> TaskKey:
        """`mission/name`, unique per kind (for a Task, its task key)."""
        return TaskKey.of(self.mission, self.meta.name) if self.mission else TaskKey(self.meta.name)


@dataclass(frozen=True, slots=True)
class AgentRef:
    """A named agent, or a label selector over the mission's agents."""

    name: str | None = None
    match_labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, agent: Agent) -> bool:
        if self.name is not None:
            return agent.meta.name == self.name
        return all(agent.meta.labels.get(k) == v for k, v in self.match_labels.items())


@dataclass(frozen=True, slots=True)
class Retries:
    max_attempts: int = 3
    initial_seconds: int = 10
    max_seconds: int = 600
    factor: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Delay before attempt number `attempt + 1`, after `attempt` failures (attempt >= 1)."""
        return float(min(self.max_seconds, self.initial_seconds * self.factor ** max(attempt - 1, 0)))


@dataclass(frozen=True, slots=True)
class Task(Manifest):
    kind: ClassVar[Kind] = Kind.TASK
    title: str = ""
    description: str = ""
    kluster: str = ""
    priority: int = 50
    needs: tuple[str, ...] = ()
    agent: AgentRef = field(default_factory=AgentRef)
    paths: tuple[str, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs_schema: Mapping[str, Any] | None = None
    retries: Retries = field(default_factory=Retries)
    timeout_seconds: int = 3600
    stall_seconds: int | None = None
    approval_policy: str | None = None
    suspend: bool = False


def meta_of(doc: Mapping[str, Any]) -> Meta:
    m = doc["metadata"]
    return Meta(m["name"], frozen_map(m.get("labels")), frozen_map(m.get("annotations")))


def build_task(doc: Mapping[str, Any], meta: Meta, mission: str | None, path: str) -> Task:
    s = doc["spec"]
    ref = s["agent"]
    retries, backoff = s.get("retries", {}), s.get("retries", {}).get("backoff", {})
    return Task(
        meta,
        mission,
        path,
        s["title"],
        s.get("description", ""),
        s["kluster"],
        int(s.get("priority", 50)),
        tuple(s.get("needs", ())),
        AgentRef(ref.get("name"), frozen_map(ref.get("selector", {}).get("matchLabels"))),
        tuple(s.get("paths", ())),
        frozen_map(s.get("inputs")),
        s["outputs"]["schema"] if "outputs" in s else None,
        Retries(
            int(retries.get("maxAttempts", 3)),
            int(backoff.get("initialSeconds", 10)),
            int(backoff.get("maxSeconds", 600)),
            float(backoff.get("factor", 2)),
        ),
        int(s.get("timeoutSeconds", 3600)),
        s.get("stallSeconds"),
        s["approval"]["policy"] if "approval" in s else None,
        bool(s.get("suspend", False)),
    )
