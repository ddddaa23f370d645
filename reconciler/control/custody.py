"""Who wrote each custody commit: the signatures on the commits MissionControl writes, checked
for `mc audit verify`.

A mesh node signs the lease, work (start, checkpoint, result) and effects commits it writes, its
agents' included (through its signing oracle); a reconciler signs its status commits (which hold
the queue), the leases it expires, revokes or fences, and its publication merges (see
`gitstate/signing.py`). Here every such commit in the history of the lease chains, the work
branches (down to where they left the desired-state branch), the effects ledgers, the status
chain and the publication merges is checked against the SSH keys that the principals in force at
the desired-state tip declare:

- signed by a key of a `node` or `reconciler` principal, and the signature verifies: fine;
- a status commit or a publication merge, which only a reconciler writes, signed by a node: a
  finding;
- unsigned, signed by a key no principal declares, by a person's, CI's or agent's key, or with a
  signature that does not verify over the commit (altered after signing): a finding.

Each finding is a warning unless its mission says `spec.audit.requireSignedCustody: true` (for
the status chain, which every mission shares: unless some mission in scope says so); then it is
an inconsistency, and `mc audit verify` exits 1. Ed25519 signatures are verified in process
(`gitstate/sshsig.py`, tens of microseconds each); other key types with `ssh-keygen`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pygit2

from reconciler.gitstate import sshsig
from reconciler.gitstate.effects import effects_ref
from reconciler.gitstate.refs import STATUS_REF, WORK_PREFIX, lease_ref
from reconciler.gitstate.store import Store
from reconciler.governance.signatures import ssh_signer
from reconciler.manifests.desired import DesiredState
from reconciler.manifests.model import Principal
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import PrincipalKind
from reconciler.vocabulary.trailers import Trailer, parse

SCAN = 2000  # commits read per lease chain, work branch or ledger
HISTORY_SCAN = 100_000  # commits of the status chain, and of the desired-state branch's first parents
CUSTODIANS = frozenset({PrincipalKind.NODE, PrincipalKind.RECONCILER})
RECONCILERS = frozenset({PrincipalKind.RECONCILER})


@dataclass(frozen=True, slots=True)
class CustodyFinding:
    task: str  # the task, or refs/mc/status
    commit: str
    problem: str
    required: bool  # the mission requires signed custody: an inconsistency, not a warning


class Keys:
    """The SSH keys the principals declare, to tell who signed a commit."""

    def __init__(self, desired: DesiredState) -> None:
        people = desired.principals.principals if desired.principals is not None else ()
        self.by_blob: dict[bytes, list[Principal]] = {}
        self.by_name = {p.name: p for p in people}
        self.lines: dict[str, list[str]] = {}
        for p in people:
            for line in p.ssh_keys:
                blob = sshsig.public_blob(line)
                if blob is not None:
                    self.by_blob.setdefault(blob, []).append(p)
                    self.lines.setdefault(p.name, []).append(line)

    def signers(self, commit: pygit2.Commit) -> tuple[list[Principal], str]:
        """The principals whose key made the commit's valid signature, or why there are none
        (a predicate: "is unsigned", ...)."""
        signature, signed = commit.gpg_signature
        if signature is None or signed is None:
            return [], "is unsigned"
        try:
            sig = sshsig.parse(signature)
        except ValueError as exc:
            return [], f"carries a signature that cannot be read ({exc})"
        if sig.namespace != sshsig.NAMESPACE:
            return [], f"is signed for the namespace {sig.namespace!r}, not {sshsig.NAMESPACE!r}"
        if sig.key_type == sshsig.ED25519:
            found = self.by_blob.get(sig.public, [])
            if not found:
                return [], f"is signed by a key no principal declares ({sig.fingerprint})"
            if not sshsig.verify_ed25519(sig, signed):
                return [], f"has a signature that does not verify with {found[0].name}'s key (altered after signing?)"
            return found, ""
        verdict = ssh_signer(signature, signed, self.lines)  # RSA, ECDSA ...: ssh-keygen decides
        if verdict.principal is None:
            return [], f"is not validly signed: {verdict.reason}"
        return [self.by_name[verdict.principal]], ""


def _judge(keys: Keys, commit: pygit2.Commit, what: str, allowed: frozenset[PrincipalKind]) -> str | None:
    """Why `commit` is not signed as a custody commit of its kind must be; None when it is."""
    signers, why = keys.signers(commit)
    if not signers:
        return f"{what} {why}"
    if any(p.kind in allowed for p in signers):
        return None
    p = signers[0]
    if p.kind is PrincipalKind.NODE:
        return f"{what} is signed by node {p.name}: only a reconciler writes these"
    return f"{what} is signed by {p.name}, a {p.kind} principal, not by a node or reconciler"


def _chain(repo: pygit2.Repository, tip: str | None, limit: int) -> Iterator[pygit2.Commit]:
    """The commits down the first parents from `tip` (at most `limit`)."""
    commit = repo[tip].peel(pygit2.Commit) if tip else None
    for _ in range(limit):
        if commit is None:
            return
        yield commit
        commit = commit.parents[0] if commit.parent_ids else None


def _lease_what(message: str) -> str:
    found = parse(message)
    state, generation = found.get(Trailer.LEASE_STATE, "?"), found.get(Trailer.GENERATION, "?")
    return f"lease commit (generation {generation}, {state})"


def check_custody(
    store: Store, desired: DesiredState, main: str, tasks: Sequence[TaskKey], mission: str | None = None
) -> list[CustodyFinding]:
    """Every custody commit of `tasks` (and the status chain, and our publication merges) that is
    not signed by a node or reconciler principal of `desired` as its kind must be."""
    repo, keys = store.repo, Keys(desired)
    required = {
        name for name, ms in desired.missions.items() if ms.mission is not None and ms.mission.require_signed_custody
    }
    in_scope = required if mission is None else required & {mission}
    out: list[CustodyFinding] = []
    seen: set[str] = set()

    def check(task: str, commit: pygit2.Commit, what: str, allowed: frozenset[PrincipalKind], strict: bool) -> None:
        cid = str(commit.id)
        if cid in seen:
            return
        seen.add(cid)
        problem = _judge(keys, commit, what, allowed)
        if problem is not None:
            out.append(CustodyFinding(task, cid, problem, strict))

    main_line: set[str] = set()
    for commit in _chain(repo, main, HISTORY_SCAN):
        main_line.add(str(commit.id))
        claims = parse(commit.message) if len(commit.parent_ids) > 1 else {}
        task = claims.get(Trailer.TASK)
        if Trailer.APPROVED_BY in claims and task and (mission is None or task.startswith(mission + "/")):
            check(task, commit, "publication merge", RECONCILERS, task.split("/")[0] in required)
    for commit in _chain(repo, store.read(STATUS_REF), HISTORY_SCAN):
        check(STATUS_REF, commit, "status commit", RECONCILERS, bool(in_scope))
    for key in tasks:
        strict = key.mission in required
        for commit in _chain(repo, store.read(lease_ref(key)), SCAN):
            check(key, commit, _lease_what(commit.message), CUSTODIANS, strict)
        for commit in _chain(repo, store.read(effects_ref(key)), SCAN):
            check(key, commit, "effects commit", CUSTODIANS, strict)
        for commit in _chain(repo, store.read(WORK_PREFIX + key), SCAN):
            if str(commit.id) in main_line:
                break  # where the branch left the desired-state branch: the rest is people's
            kind = parse(commit.message).get(Trailer.KIND)
            if kind is not None:  # ours (or claiming to be): start, checkpoint, result
                check(key, commit, f"{kind} commit", CUSTODIANS, strict)
    return out
