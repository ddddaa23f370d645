"""Condition types and reasons on a task's status, in the style of Kubernetes and Flux.

A condition is a (type, status, reason, message) record; `reason` is a CamelCase word from
`Reason` that scripts can match, `message` says the same for people.
"""

from __future__ import annotations

from enum import StrEnum

from reconciler.vocabulary.phases import Phase


class ConditionType(StrEnum):
    READY = "Ready"
    """True while a Queued task may be claimed; False (with why) while a Pending one waits."""
    MANIFEST_VALID = "ManifestValid"
    """Present and False while the task's manifest on the desired branch does not validate."""
    SPEC_CHANGED = "SpecChanged"
    """True when the manifest changed while the task was in flight or finished."""
    OBSERVED_STATE_VALID = "ObservedStateValid"
    """Present and False while the task's lease chain cannot be read or contradicts its status,
    or its lease ref is locked: the task is held where it is until that is repaired."""


class Reason(StrEnum):
    # Ready=True
    QUEUED = "Queued"
    # Ready=False
    WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"
    DEPENDENCY_CYCLE = "DependencyCycle"
    SUSPENDED = "Suspended"
    ARCHIVED = "Archived"
    RUN_APPROVAL_REQUIRED = "RunApprovalRequired"
    SCOPE_OVERLAP = "ScopeOverlap"
    SPEND_CAP_REACHED = "SpendCapReached"
    # ManifestValid=False
    INVALID_MANIFEST = "InvalidManifest"
    # ObservedStateValid=False
    CORRUPT_LEASE = "CorruptLease"
    CORRUPT_STATUS = "CorruptStatus"
    INCONSISTENT_STATUS = "InconsistentStatus"
    LEASE_LOCKED = "LeaseLocked"
    # SpecChanged=True: the phase the task was in when its spec changed
    CHANGED_WHILE_LEASED = "ChangedWhileLeased"
    CHANGED_WHILE_RUNNING = "ChangedWhileRunning"
    CHANGED_WHILE_AWAITING_APPROVAL = "ChangedWhileAwaitingApproval"
    CHANGED_WHILE_EXPIRED = "ChangedWhileExpired"
    CHANGED_WHILE_SUCCEEDED = "ChangedWhileSucceeded"
    CHANGED_WHILE_FAILED = "ChangedWhileFailed"
    CHANGED_WHILE_CANCELLED = "ChangedWhileCancelled"

    @classmethod
    def changed_while(cls, phase: Phase) -> Reason:
        return cls("ChangedWhile" + str(phase))
