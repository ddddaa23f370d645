"""An approval as Git holds it: what it claims (trailers) and its signature, unverified."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.vocabulary.trailers import Trailer


class ApprovalForm(StrEnum):
    """The three forms an approval takes, all verified offline."""

    SSH = "ssh"  # a commit on the task's approval chain, signed with the approver's SSH key
    MERGE = "merge"  # a signed merge of the work into the desired-state branch
    SIGSTORE = "sigstore"  # a sigstore bundle over the approval statement, kept on the chain


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    commit: str
    trailers: dict[Trailer, str]
    author: str  # name <email>, as the commit says: not evidence of anything
    at: float
    signature: bytes | None  # the armored SSH signature or the sigstore bundle (JSON); None when unsigned
    signed: bytes  # what the signature covers: the commit without its signature header, or the statement
    form: ApprovalForm = ApprovalForm.SSH
