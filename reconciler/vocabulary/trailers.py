"""Commit trailers and the identities on MissionControl's own commits: built and parsed only here.

Every commit MissionControl writes (lease chains, the status chain, work-branch checkpoints
and results) ends with `MC-*` trailers in git's trailer format, so that `git log`,
`git interpret-trailers --parse` and the audit can read who did what under which lease.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

RECONCILER = "mc-reconciler"
EMAIL_DOMAIN = "missioncontrol.invalid"  # RFC 2606: never a real mailbox


class Trailer(StrEnum):
    TASK = "MC-Task"  # mission/task
    AGENT = "MC-Agent"  # the agent id that wrote a work commit
    GENERATION = "MC-Generation"  # the lease generation the commit was written under
    LEASE_STATE = "MC-Lease-State"  # on lease commits: the state recorded
    KIND = "MC-Kind"  # on work commits: checkpoint or result
    DESIRED = "MC-Desired"  # on status commits: the desired-state commit the pass read
    NODE = "MC-Node"  # on a result a mesh node reported: the node that ran it
    EXIT_STATUS = "MC-Exit-Status"  # ... the agent's exit status
    DURATION = "MC-Duration"  # ... how long the attempt ran, in seconds
    SPEND = "MC-Spend"  # on results: the spend the holder reported (`tokens=N cost_usd=X`)
    ACTION = "MC-Action"  # on approvals: the policy action approved (run, publish)
    APPROVES = "MC-Approves"  # on approvals: the exact commit approved
    TARGET = "MC-Target"  # on approvals of a change to a policy or principals: the file changed
    POLICY = "MC-Policy"  # on approvals: the policy and its version, `name@version`
    APPROVED_BY = "MC-Approved-By"  # on publications, one per approval: `principal key-fingerprint approval`


class WorkKind(StrEnum):
    START = "start"  # where a task that needs others starts: main merged with their results
    CHECKPOINT = "checkpoint"
    RESULT = "result"


def identity(who: str) -> tuple[str, str]:
    """The (name, email) written as author and committer of a commit made on behalf of `who`."""
    return who, f"{who}@{EMAIL_DOMAIN}"


def compose(subject: str, trailers: Mapping[Trailer, object], body: str = "") -> str:
    """A commit message: subject, optional body, then one trailer block."""
    parts = [subject.strip()]
    if body.strip():
        parts.append(body.strip())
    lines = []
    for t, v in trailers.items():  # a list or tuple value repeats the trailer, one line each
        lines += [f"{t}: {x}" for x in v] if isinstance(v, (list, tuple)) else [f"{t}: {v}"]
    parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def parse(message: str) -> dict[Trailer, str]:
    """The `MC-*` trailers of a message's last paragraph (unknown trailers are ignored)."""
    last = message.rstrip("\n").rsplit("\n\n", 1)[-1]
    known = {str(t): t for t in Trailer}
    out: dict[Trailer, str] = {}
    for line in last.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name in known:
            out[known[name]] = value.strip()
    return out
