"""A mesh node's record as a value, and what its heartbeat vouches for.

A node's heartbeat vouches for every lease it was granted as a node (`Lease.vouched`): one
heartbeat per interval renews them all, as a Kubernetes node lease does, instead of one renewal
per lease. Such a lease lives while its node's current incarnation heartbeats, and ends when the
heartbeat lapses (then the reconciler expires it and the task runs elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.vocabulary.clock import iso, parse_iso
from reconciler.vocabulary.leases import Lease, LeaseState


class NodeEvent(StrEnum):
    REGISTER = "register"
    HEARTBEAT = "heartbeat"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    event: NodeEvent
    labels: dict[str, str]
    capacity: int
    running: list[str]
    version: str
    started_at: float
    heartbeat_at: float
    ttl: float
    pid: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def healthy(self, now: float) -> bool:
        return self.event is not NodeEvent.STOP and now < self.heartbeat_at + self.ttl

    def to_json(self) -> str:
        data = asdict(self)
        data["event"] = str(self.event)
        data["started_at"], data["heartbeat_at"] = iso(self.started_at), iso(self.heartbeat_at)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: bytes | str) -> NodeRecord:
        data = json.loads(text)
        data["event"] = NodeEvent(data["event"])
        data["started_at"] = parse_iso(data["started_at"]) or 0.0
        data["heartbeat_at"] = parse_iso(data["heartbeat_at"]) or 0.0
        return cls(**data)


def lease_expiry(lease: Lease, nodes: Mapping[str, NodeRecord]) -> float:
    """When `lease` runs out: its own expiry, or, for a lease its node vouches for, the end of
    that node's current heartbeat (if the node incarnation that took it is still the one alive)."""
    if not lease.vouched or lease.node is None or lease.state is not LeaseState.ACTIVE:
        return lease.expires_at
    node = nodes.get(lease.node)
    if node is None or node.event is NodeEvent.STOP or node.started_at > lease.granted_at:
        return lease.expires_at  # gone, stopped, or restarted since: it vouches no more
    return max(lease.expires_at, node.heartbeat_at + node.ttl)
