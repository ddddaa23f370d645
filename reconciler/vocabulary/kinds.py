"""The kinds of manifest, and the actions and states that policies speak of."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    MISSION = "Mission"
    KLUSTER = "Kluster"
    AGENT = "Agent"
    POLICY = "Policy"
    PRINCIPALS = "Principals"
    TASK = "Task"


class PolicyAction(StrEnum):
    """What a policy rule governs."""

    RUN = "run"  # before a task may start
    PUBLISH = "publish"  # before its result is merged and its effects released
    CHANGE_POLICY = "change-policy"
    CHANGE_PRINCIPALS = "change-principals"


class PrincipalKind(StrEnum):
    """Who a principal is. People and CI identities approve; nodes and reconcilers sign the
    custody commits they write and never approve; an agent's key never approves its own work."""

    HUMAN = "human"
    CI = "ci"
    NODE = "node"  # a mesh node: signs the lease, result and effect commits it writes
    RECONCILER = "reconciler"  # a reconciler: signs its status commits
    AGENT = "agent"  # an AI agent (`agent: MISSION/NAME`): excluded from approving what it ran

    @property
    def approves(self) -> bool:
        return self in (PrincipalKind.HUMAN, PrincipalKind.CI, PrincipalKind.AGENT)

    @property
    def custodian(self) -> bool:
        return self in (PrincipalKind.NODE, PrincipalKind.RECONCILER)


class PolicyState(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"
