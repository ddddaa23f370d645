"""Expected failures: each reaches a user as one message, a stable code and an exit code,
never a traceback (docs/design.md, "Errors").

`code` is what scripts and agents match on (`-o json` prints `{"error": {"code", "message",
"details"}}`); `exit_code` is what the CLI returns.
"""

from __future__ import annotations

from typing import Any, ClassVar


class McError(Exception):
    """An expected failure: the message is for the user."""

    exit_code: ClassVar[int] = 1
    code: ClassVar[str] = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class UsageError(McError):
    """The command was called wrongly: a bad path, name, revision or option."""

    exit_code = 2
    code = "usage"


class NotFound(UsageError):
    """A name that does not exist: an unknown task, agent, mission or branch."""

    code = "not_found"


class Conflict(McError):
    """A compare-and-swap lost: another writer moved the ref first. Worth retrying."""

    code = "conflict"


class RefLocked(Conflict):
    """The ref is locked by another process's update in flight (or a crashed one's, which is
    broken after 30 s): a conflict that only delays what needs that ref."""

    code = "locked"


class GitFailure(McError):
    """Git failed for a reason other than a lost race (a missing object, a permission, a bad
    ref name, a server that refused): an error naming what failed, never retried as a race."""

    code = "git"


class Unreachable(GitFailure):
    """The shared remote cannot be reached: nothing was decided, try again later (exit code 5)."""

    exit_code = 5
    code = "unreachable"


class CorruptState(McError):
    """Observed state in Git that cannot be read (a ref at the wrong kind of object, a blob that
    is not what MissionControl writes): reported, and what depends on it is held."""

    code = "corrupt"


class NotHolder(McError):
    """A report that does not come from the lease's holder (wrong lease token or agent):
    refused, nothing changed."""

    code = "not_holder"


class StaleGeneration(McError):
    """A report from a lease generation that is not the live one: refused, nothing changed."""

    code = "stale_generation"


class NothingToClaim(McError):
    """No task is ready for this agent right now (exit code 3, so scripts can tell)."""

    exit_code = 3
    code = "nothing_to_claim"


class OutsidePaths(McError):
    """A result that changes paths outside its task's `paths`; the task stays Running."""

    code = "outside_paths"


class InvalidOutputs(McError):
    """Outputs that do not satisfy the task's output schema; the task stays Running."""

    code = "invalid_outputs"


class OverBudget(McError):
    """Reported spend went over the agent's per-run budget: the spend is recorded, the attempt
    has failed (exit code 4: stop working now)."""

    exit_code = 4
    code = "over_budget"
