"""Typed manifests, built from documents that passed their schema."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import Kind, PolicyAction, PolicyState, PrincipalKind
from reconciler.vocabulary.spend import SpendLimit

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
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
class OverlapSettings:
    """A mission's `spec.overlap`: thresholds of a weak and a strong match, and what creating a
    task does on a strong one (warn, acknowledge, refuse)."""

    strong: float = 0.8
    weak: float = 0.45
    on_strong: str = "warn"


@dataclass(frozen=True, slots=True)
class Mission(Manifest):
    kind: ClassVar[Kind] = Kind.MISSION
    description: str = ""
    domain: str = ""
    owners: tuple[str, ...] = ()
    suspend: bool = False
    spend_cap: SpendLimit = field(default_factory=SpendLimit)  # spec.budget: no new task once used up
    require_signed_custody: bool = False  # spec.audit.requireSignedCustody: unsigned custody is an error
    overlap: OverlapSettings = field(default_factory=OverlapSettings)


@dataclass(frozen=True, slots=True)
class Kluster(Manifest):
    kind: ClassVar[Kind] = Kind.KLUSTER
    description: str = ""
    outcome: str = ""
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Permissions:
    env: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Budget:
    wall_time_seconds: int | None = None
    cost_usd: float | None = None
    tokens: int | None = None

    @property
    def spend_limit(self) -> SpendLimit:
        return SpendLimit(self.tokens, self.cost_usd)


def agent_id(mission: str, name: str) -> str:
    """The stable identity `{name}-{8hex}`: the same mission and name always give the same id."""
    digest = hashlib.sha256(f"{mission}/{name}".encode()).hexdigest()
    return f"{name}-{digest[:8]}"


@dataclass(frozen=True, slots=True)
class Agent(Manifest):
    kind: ClassVar[Kind] = Kind.AGENT
    description: str = ""
    command: tuple[str, ...] = ()
    working_dir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    permissions: Permissions = field(default_factory=Permissions)
    budget: Budget = field(default_factory=Budget)
    replicas: int = 1
    node_selector: Mapping[str, str] = field(default_factory=dict)

    @property
    def agent_id(self) -> str:
        return agent_id(self.mission or "", self.meta.name)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    tasks: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Requirement:
    approvals: int = 1
    principals: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    allow_author: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    action: PolicyAction
    description: str = ""
    match: RuleMatch = field(default_factory=RuleMatch)
    require: Requirement = field(default_factory=Requirement)


@dataclass(frozen=True, slots=True)
class Policy(Manifest):
    kind: ClassVar[Kind] = Kind.POLICY
    description: str = ""
    version: int = 1
    state: PolicyState = PolicyState.DRAFT
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class SigstoreIdentity:
    issuer: str
    subject: str


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    kind: PrincipalKind = PrincipalKind.HUMAN
    email: str = ""
    ssh_keys: tuple[str, ...] = ()
    sigstore: tuple[SigstoreIdentity, ...] = ()
    agent: str | None = None  # for kind agent: MISSION/AGENT

    @property
    def agent_id(self) -> str | None:
        """The id of the agent this principal is (kind agent), as its commits name it."""
        if self.agent is None:
            return None
        mission, _, name = self.agent.partition("/")
        return agent_id(mission, name)


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    members: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Principals(Manifest):
    kind: ClassVar[Kind] = Kind.PRINCIPALS
    principals: tuple[Principal, ...] = ()
    groups: tuple[Group, ...] = ()


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


def _meta(doc: Mapping[str, Any]) -> Meta:
    m = doc["metadata"]
    return Meta(m["name"], _frozen(m.get("labels")), _frozen(m.get("annotations")))


def _build_mission(doc: Mapping[str, Any], meta: Meta, mission: str | None, path: str) -> Manifest:
    s = doc["spec"]
    return Mission(
        meta,
        mission,
        path,
        s.get("description", ""),
        s.get("domain", ""),
        tuple(s["owners"]),
        bool(s.get("suspend", False)),
        SpendLimit(s.get("budget", {}).get("tokens"), s.get("budget", {}).get("costUsd")),
        bool(s.get("audit", {}).get("requireSignedCustody", False)),
        OverlapSettings(
            float(s.get("overlap", {}).get("strong", 0.8)),
            float(s.get("overlap", {}).get("weak", 0.45)),
            str(s.get("overlap", {}).get("onStrong", "warn")),
        ),
    )


def _build_kluster(doc: Mapping[str, Any], meta: Meta, mission: str | None, path: str) -> Manifest:
    s = doc["spec"]
    return Kluster(meta, mission, path, s.get("description", ""), s["outcome"], bool(s.get("archived", False)))


def _build_agent(doc: Mapping[str, Any], meta: Meta, mission: str | None, path: str) -> Manifest:
    s = doc["spec"]
    rt, perm, budget = s["runtime"], s.get("permissions", {}), s.get("budget", {})
    return Agent(
        meta,
        mission,
        path,
        s.get("description", ""),
        tuple(rt["command"]),
        rt.get("workingDir"),
        _frozen(rt.get("env")),
        Permissions(tuple(perm.get("env", ())), tuple(perm.get("secrets", ())), tuple(perm.get("paths", ()))),
        Budget(budget.get("wallTimeSeconds"), budget.get("costUsd"), budget.get("tokens")),
        int(s.get("replicas", 1)),
        _frozen(s.get("nodeSelector", {}).get("matchLabels")),
    )


def _build_rule(r: Mapping[str, Any]) -> Rule:
    m, q = r.get("match", {}), r["require"]
    return Rule(
        r["name"],
        PolicyAction(r["action"]),
        r.get("description", ""),
        RuleMatch(tuple(m.get("tasks", ())), _frozen(m.get("labels")), tuple(m.get("paths", ()))),
        Requirement(
            int(q["approvals"]),
            tuple(q.get("principals", ())),
            tuple(q.get("groups", ())),
            bool(q.get("allowAuthor", False)),
        ),
    )


def _build_policy(doc: Mapping[str, Any], meta: Meta, mission: str | None, path: str) -> Manifest:
    s = doc["spec"]
    return Policy(
        meta,
        mission,
        path,
        s.get("description", ""),
        int(s["version"]),
        PolicyState(s["state"]),
        tuple(_build_rule(r) for r in s["rules"]),
    )


def _build_principals(doc: Mapping[str, Any], meta: Meta, mission: str | None, path: str) -> Manifest:
    s = doc["spec"]
    people = tuple(
        Principal(
            p["name"],
            PrincipalKind(p.get("kind", "human")),
            p.get("email", ""),
            tuple(p.get("sshKeys", ())),
            tuple(SigstoreIdentity(i["issuer"], i["subject"]) for i in p.get("sigstore", ())),
            p.get("agent"),
        )
        for p in s["principals"]
    )
    groups = tuple(Group(g["name"], tuple(g["members"]), g.get("description", "")) for g in s.get("groups", ()))
    return Principals(meta, mission, path, people, groups)


def _build_task(doc: Mapping[str, Any], meta: Meta, mission: str | None, path: str) -> Manifest:
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
        AgentRef(ref.get("name"), _frozen(ref.get("selector", {}).get("matchLabels"))),
        tuple(s.get("paths", ())),
        _frozen(s.get("inputs")),
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


BUILDERS = {
    Kind.MISSION: _build_mission,
    Kind.KLUSTER: _build_kluster,
    Kind.AGENT: _build_agent,
    Kind.POLICY: _build_policy,
    Kind.PRINCIPALS: _build_principals,
    Kind.TASK: _build_task,
}


def build(kind: Kind, doc: Mapping[str, Any], mission: str | None, path: str) -> Manifest:
    """A typed manifest from a schema-valid document."""
    return BUILDERS[kind](doc, _meta(doc), mission, path)
