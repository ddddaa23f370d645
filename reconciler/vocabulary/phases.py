"""Task phases and the legal transitions between them (docs/design.md, "Task state machine").

Every phase change anywhere in MissionControl goes through `check_transition`, so an
illegal move is refused with its reason instead of being written to Git.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    LEASED = "Leased"
    RUNNING = "Running"
    AWAITING_APPROVAL = "AwaitingApproval"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EXPIRED = "Expired"
    CANCELLED = "Cancelled"
    BLOCKED = "Blocked"


TERMINAL = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})
HELD = frozenset({Phase.LEASED, Phase.RUNNING})  # phases in which a lease is live

# from -> {to: why that edge exists}
EDGES: dict[Phase, dict[Phase, str]] = {
    Phase.PENDING: {
        Phase.QUEUED: "dependencies met and policy allows",
        Phase.BLOCKED: "a dependency failed",
        Phase.CANCELLED: "removed from desired state or cancelled",
    },
    Phase.QUEUED: {
        Phase.LEASED: "lease granted",
        Phase.PENDING: "no longer ready (spec changed or suspended)",
        Phase.BLOCKED: "a dependency failed",
        Phase.CANCELLED: "removed from desired state or cancelled",
    },
    Phase.LEASED: {
        Phase.RUNNING: "agent started",
        Phase.QUEUED: "lease released, or agent failed with attempts left",
        Phase.FAILED: "agent failed on its last attempt",
        Phase.EXPIRED: "lease not renewed before expiry",
        Phase.CANCELLED: "removed from desired state or cancelled",
    },
    Phase.RUNNING: {
        Phase.SUCCEEDED: "result accepted",
        Phase.AWAITING_APPROVAL: "result awaits approval",
        Phase.QUEUED: "lease released, or agent failed with attempts left",
        Phase.FAILED: "agent failed on its last attempt",
        Phase.EXPIRED: "lease not renewed before expiry",
        Phase.CANCELLED: "removed from desired state or cancelled",
    },
    Phase.AWAITING_APPROVAL: {
        Phase.SUCCEEDED: "approvals verified",
        Phase.FAILED: "approval rejected",
        Phase.CANCELLED: "removed from desired state or cancelled",
    },
    Phase.EXPIRED: {
        Phase.QUEUED: "retry with the next generation",
        Phase.FAILED: "no attempts left",
        Phase.CANCELLED: "removed from desired state or cancelled",
    },
    Phase.BLOCKED: {
        Phase.PENDING: "the failed dependency was removed from its needs",
        Phase.CANCELLED: "removed from desired state or cancelled",
    },
    Phase.SUCCEEDED: {},
    Phase.FAILED: {},
    Phase.CANCELLED: {Phase.PENDING: "declared again in desired state"},
}


class IllegalTransition(ValueError):
    """A transition the state machine does not allow, with the reason."""


def check_transition(current: Phase, target: Phase) -> str:
    """The reason the edge exists; raise IllegalTransition if it does not."""
    allowed = EDGES[current]
    if target not in allowed:
        options = ", ".join(allowed) or "none: it is final"
        raise IllegalTransition(f"{current} -> {target} is not a legal transition (from {current}: {options})")
    return allowed[target]
