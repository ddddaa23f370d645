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


class PolicyState(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"
