"""Whether a policy gate is open: which approvals count for an action on a target (a task, or
a changed policy or principals file), and why the others do not (`mc policy explain`, and the
reconciler's publication decision).

An approval counts for a rule when all of these hold; otherwise the first that fails is its
reason: it is signed (an SSH signature, or a sigstore bundle over its statement); the key or
identity is one that a principal declares in the principals the caller says apply (as of the
desired-state commit the approval names, or for a change, the version before it); that principal
is of a kind that approves (never a node or a reconciler); it names this target, this action,
this policy at its current version, and exactly the commit to approve; its principal is one the
rule accepts (by name or group), not the agent that ran the task, and not the author (unless the
rule allows it); and that principal was not counted already.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.governance.rules import rules_for
from reconciler.governance.signatures import Signer, sigstore_signer, ssh_signer
from reconciler.manifests.model import Policy, Principals, Rule, Task
from reconciler.vocabulary.approvals import ApprovalForm, ApprovalRecord
from reconciler.vocabulary.kinds import PolicyAction
from reconciler.vocabulary.trailers import Trailer

# An approval's principals, as of the desired-state commit it names: (principals, None); or
# (principals or None, why that commit cannot be used): then the approval never counts, and the
# principals given (those of now) only name who signed it.
PrincipalsAt = Callable[[ApprovalRecord], tuple[Principals | None, str | None]]


@dataclass(frozen=True, slots=True)
class Verdict:
    approval: str  # the approval commit
    principal: str | None
    fingerprint: str
    counts: bool
    reason: str  # why it does not count ("" when it does)


@dataclass(slots=True)
class RuleStatus:
    policy: str
    version: int
    rule: str
    needs: int
    accepts: str  # who may approve, for people
    counted: list[str] = field(default_factory=list)  # principals whose approval counts

    @property
    def met(self) -> bool:
        return len(self.counted) >= self.needs


@dataclass(slots=True)
class Gate:
    task: str  # the target: MISSION/TASK, or for a change, the policy or principals file
    action: PolicyAction
    commit: str | None  # what must be approved (the result, for publish)
    rules: list[RuleStatus]
    verdicts: list[Verdict]

    @property
    def governed(self) -> bool:
        return bool(self.rules)

    @property
    def open(self) -> bool:
        return all(r.met for r in self.rules) and (self.commit is not None or not self.rules)


def _accepts(rule: Rule) -> str:
    who = [*rule.require.principals, *(f"group {g}" for g in rule.require.groups)]
    return ", ".join(who) or "any principal"


def _allowed(rule: Rule, principal: str, principals: Principals) -> bool:
    if not rule.require.principals and not rule.require.groups:
        return True
    if principal in rule.require.principals:
        return True
    return any(g.name in rule.require.groups and principal in g.members for g in principals.groups)


SignerCheck = Callable[[ApprovalRecord, Principals], Signer]


def signer_of(record: ApprovalRecord, principals: Principals) -> Signer:
    """Who signed `record`, by its form: an SSH signature or a sigstore bundle, checked offline
    against what `principals` declare."""
    if record.form is ApprovalForm.SIGSTORE:
        identities = {p.name: [(i.issuer, i.subject) for i in p.sigstore] for p in principals.principals}
        return sigstore_signer(record.signature, record.signed, identities)
    return ssh_signer(record.signature, record.signed, {p.name: p.ssh_keys for p in principals.principals})


def evaluate(
    task: Task,
    action: PolicyAction,
    commit: str | None,
    policies: Sequence[Policy],
    records: Sequence[ApprovalRecord],
    principals_at: PrincipalsAt,
    authors: frozenset[str] = frozenset(),
    signer: SignerCheck | None = None,
    executors: frozenset[str] = frozenset(),
) -> Gate:
    """The gate of `action` on `task` for `commit`, given every approval recorded for the task;
    `authors` wrote the task, `executors` are the agent principals that ran it."""
    governing = rules_for(policies, task, action)
    return judge(str(task.key), action, commit, governing, records, principals_at, authors, executors, signer)


def judge(
    target: str,
    action: PolicyAction,
    commit: str | None,
    governing: Sequence[tuple[Policy, Rule]],
    records: Sequence[ApprovalRecord],
    principals_at: PrincipalsAt,
    authors: frozenset[str] = frozenset(),
    executors: frozenset[str] = frozenset(),
    signer: SignerCheck | None = None,
) -> Gate:
    """The gate of `action` on `target` for `commit` under the `governing` rules."""
    rules = [RuleStatus(p.name, p.version, r.name, r.require.approvals, _accepts(r)) for p, r in governing]
    gate = Gate(target, action, commit, rules, [])
    for record in records:
        verdict = _verdict(record, gate, list(governing), principals_at, authors, executors, signer or signer_of)
        gate.verdicts.append(verdict)
    return gate


def _verdict(
    record: ApprovalRecord,
    gate: Gate,
    governing: list[tuple[Policy, Rule]],
    principals_at: PrincipalsAt,
    authors: frozenset[str],
    executors: frozenset[str],
    check: SignerCheck,
) -> Verdict:
    def refuse(reason: str, who: Signer | None = None) -> Verdict:
        return Verdict(record.commit, who.principal if who else None, who.fingerprint if who else "", False, reason)

    principals, why = principals_at(record)
    if principals is None:
        return refuse(why or "its principals cannot be read")
    who = check(record, principals)
    if who.principal is None:
        return refuse(who.reason)
    if why is not None:
        return refuse(why, who)
    kind = next((p.kind for p in principals.principals if p.name == who.principal), None)
    if kind is not None and not kind.approves:
        return refuse(f"{who.principal} is a {kind} principal: its key signs custody commits, never approvals", who)
    claims = record.trailers
    named = Trailer.TASK if gate.action in (PolicyAction.RUN, PolicyAction.PUBLISH) else Trailer.TARGET
    if claims.get(named) != gate.task:
        what = "task" if named is Trailer.TASK else "change to"
        return refuse(f"it approves {what} {claims.get(named)!r}, not {gate.task}", who)
    if claims.get(Trailer.ACTION) != gate.action:
        return refuse(f"it approves {claims.get(Trailer.ACTION)!r}, not {gate.action}", who)
    if gate.commit is None or claims.get(Trailer.APPROVES) != gate.commit:
        approved = str(claims.get(Trailer.APPROVES, ""))[:12]
        return refuse(f"it approves commit {approved}, not the current one {str(gate.commit)[:12]}", who)
    counted_any = False
    reasons = []
    for (policy, rule), status in zip(governing, gate.rules, strict=True):
        if claims.get(Trailer.POLICY) != f"{policy.name}@{policy.version}":
            reasons.append(f"it names policy {claims.get(Trailer.POLICY)!r}, not {policy.name}@{policy.version}")
        elif who.principal in executors:
            reasons.append(f"{who.principal} is the agent that ran the task; it never approves its own work")
        elif who.principal in authors and not rule.require.allow_author:
            what = "task" if named is Trailer.TASK else "change"
            reasons.append(f"{who.principal} authored the {what}; rule {rule.name} excludes its author")
        elif not _allowed(rule, who.principal, principals):
            reasons.append(f"{who.principal} is not one rule {rule.name} accepts ({status.accepts})")
        elif who.principal in status.counted:
            reasons.append(f"{who.principal} is already counted for rule {rule.name}")
        else:
            status.counted.append(who.principal)
            counted_any = True
    if counted_any:
        return Verdict(record.commit, who.principal, who.fingerprint, True, "")
    return refuse(reasons[0] if reasons else "no rule governs this action", who)
