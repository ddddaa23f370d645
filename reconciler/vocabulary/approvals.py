"""An approval as Git holds it: what its commit claims (trailers) and its signature, unverified."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.vocabulary.trailers import Trailer


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    commit: str
    trailers: dict[Trailer, str]
    author: str  # name <email>, as the commit says: not evidence of anything
    at: float
    signature: bytes | None  # the armored SSH (or other) signature, None when unsigned
    signed: bytes  # what the signature covers: the commit without its signature header
