"""A lease as a value: who holds a task, at which generation (the fencing token), until when.

Each commit of a lease chain (`gitstate.leases`) holds one `Lease` as `lease.json`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, NamedTuple

from reconciler.vocabulary.clock import iso, parse_iso
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.spend import Spend, SpendLimit


class LeaseState(StrEnum):
    """The state a lease commit records. Only ACTIVE is live; the others end a generation."""

    ACTIVE = "active"  # granted or renewed
    RELEASED = "released"  # given back by the holder, without using an attempt
    COMPLETED = "completed"  # the holder reported its result
    FAILED = "failed"  # the holder reported a failure
    EXPIRED = "expired"  # not renewed in time (written by the reconciler)
    REVOKED = "revoked"  # taken back because the task left desired state (reconciler)


HOLDER_ENDED = frozenset({LeaseState.RELEASED, LeaseState.COMPLETED, LeaseState.FAILED})


class LeaseAction(StrEnum):
    """What the reconciler does to a live lease."""

    EXPIRE = "expire"  # a live lease not renewed in time
    REVOKE = "revoke"  # a live lease whose task left desired state
    FENCE = "fence"  # no live lease: close the chain so that no claim from an older queue can land

    @property
    def ends_in(self) -> LeaseState:
        return LeaseState.EXPIRED if self is LeaseAction.EXPIRE else LeaseState.REVOKED


MAX_TTL = 7 * 24 * 3600.0  # a week: a longer lease is a lock nobody can take back


def new_secret() -> str:
    """A fresh lease secret: 256 random bits, URL-safe, for `MC_LEASE_TOKEN`."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LeaseHandle(NamedTuple):
    """What a holder presents with every report: the generation (the fencing token), the lease
    secret (the credential) and, optionally, its agent id (checked when given).

    (A NamedTuple: every agent command defines it, and that costs a fraction of a dataclass.)"""

    generation: int
    secret: str
    agent: str | None = None


_TIMES = ("granted_at", "renewed_at", "expires_at", "started_at")


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    generation: int
    agent: str
    node: str | None
    state: LeaseState
    granted_at: float
    renewed_at: float
    expires_at: float
    ttl: float
    started_at: float | None = None
    reason: str = ""
    outputs: dict[str, Any] | None = None
    result_commit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    vouched: bool = False  # renewed by its node's heartbeat (vocabulary.nodes), not one by one
    # The SHA-256 of the lease secret that the claim returned to the holder, who presents it with
    # every report: Git holds only this hash. Random per grant, it also keeps two contenders that
    # grant the same generation to the same agent in the same millisecond from writing
    # byte-identical commits (pushing a commit the server already has "succeeds": both would win).
    # (A lease made without a secret gets the hash of one nobody knows: no one can report on it.)
    secret_sha256: str = field(default_factory=lambda: secret_hash(new_secret()))
    spend: Spend = field(default_factory=Spend)  # what the holder reported spending (`mc usage`)
    budget: SpendLimit = field(default_factory=SpendLimit)  # the agent's per-run budget at the grant

    def live(self, now: float) -> bool:
        return self.state is LeaseState.ACTIVE and now < self.expires_at

    def opened_by(self, secret: str) -> bool:
        """Whether `secret` is the one this lease was granted with (constant-time comparison)."""
        return hmac.compare_digest(self.secret_sha256, secret_hash(secret))

    def renewed(self, now: float, *, started: bool = True) -> Lease:
        """Renewed until `now + ttl`; `started` also marks the agent started (first renewal)."""
        return replace(
            self,
            renewed_at=now,
            expires_at=now + self.ttl,
            started_at=self.started_at if self.started_at is not None or not started else now,
        )

    def ended(self, state: LeaseState, reason: str, now: float) -> Lease:
        return replace(self, state=state, reason=reason, renewed_at=now)

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = str(self.state)
        for name in _TIMES:
            data[name] = iso(data[name])
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Lease:
        data = json.loads(text)
        data.pop("token", None)  # written by 0.1 before the lease secret; carried no meaning
        for name in _TIMES:
            data[name] = parse_iso(data[name])
        data["state"] = LeaseState(data["state"])
        data["key"] = TaskKey(data["key"])
        data["spend"] = Spend.from_dict(data.get("spend"))
        data["budget"] = SpendLimit.from_dict(data.get("budget"))
        return cls(**data)
