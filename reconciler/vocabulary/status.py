"""A task's observed status as a value: phase, attempts, generation, conditions, history.

The status chain (`gitstate.status`) stores one `TaskStatus` per task as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.vocabulary.clock import iso, parse_iso
from reconciler.vocabulary.conditions import ConditionType, Reason
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.spend import Spend

HISTORY_LIMIT = 50
_TIMES = ("created", "last_transition", "not_before")


@dataclass(slots=True)
class Condition:
    type: ConditionType
    status: bool
    reason: Reason
    message: str
    last_transition: float

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "type": str(self.type),
            "reason": str(self.reason),
            "last_transition": iso(self.last_transition),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Condition:
        return cls(
            ConditionType(data["type"]),
            bool(data["status"]),
            Reason(data["reason"]),
            str(data["message"]),
            parse_iso(data["last_transition"]) or 0.0,
        )


@dataclass(slots=True)
class Event:
    at: float
    source: str | None
    target: str
    reason: str
    generation: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": iso(self.at)}


@dataclass(slots=True)
class TaskStatus:
    key: TaskKey
    phase: Phase
    created: float
    last_transition: float
    spec: str  # blob id of the manifest this status acts on (the observed generation)
    generation: int = 0  # highest lease generation the reconciler has processed
    attempts: int = 0  # attempts used: failed or expired ones, plus the one in flight
    failures: int = 0  # attempts that failed or expired
    not_before: float | None = None
    holder: str | None = None
    node: str | None = None
    message: str = ""
    outputs: dict[str, Any] | None = None
    result_commit: str | None = None
    spend: Spend = field(default_factory=Spend)  # every ended attempt's reported spend, summed
    conditions: list[Condition] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)

    @property
    def mission(self) -> str:
        return self.key.mission

    @property
    def task(self) -> str:
        return self.key.name

    def condition(self, type_: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def set_condition(self, type_: ConditionType, status: bool, reason: Reason, message: str, now: float) -> None:
        old = self.condition(type_)
        if old is not None and (old.status, old.reason, old.message) == (status, reason, message):
            return
        since = old.last_transition if old is not None and old.status == status else now
        self.conditions = [c for c in self.conditions if c.type != type_]
        self.conditions.append(Condition(type_, status, reason, message, since))
        self.conditions.sort(key=lambda c: c.type)

    def clear_condition(self, type_: ConditionType) -> None:
        self.conditions = [c for c in self.conditions if c.type != type_]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _TIMES:
            data[name] = iso(data[name])
        data["phase"] = str(self.phase)
        data["conditions"] = [c.to_dict() for c in self.conditions]
        data["history"] = [e.to_dict() for e in self.history]
        return data

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskStatus:
        data = dict(data)
        for name in _TIMES:
            data[name] = parse_iso(data[name])
        data["key"] = TaskKey(data["key"])
        data["phase"] = Phase(data["phase"])
        data["conditions"] = [Condition.from_dict(c) for c in data["conditions"]]
        data["history"] = [Event(**{**e, "at": parse_iso(e["at"])}) for e in data["history"]]
        data["spend"] = Spend.from_dict(data.get("spend"))
        return cls(**data)
