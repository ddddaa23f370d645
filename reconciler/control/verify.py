"""`mc audit verify`: re-check, from Git alone, what the record claims.

- Fencing: every result commit on a work branch (`MC-Kind: result`) is the result of a lease
  generation that the lease chain records as completed with exactly that commit; a result from
  a stale generation, or a forged trailer, is named.
- Publication: every merge of a result into the desired-state branch (our publication merges,
  and any other merge of a task's result) rests on approvals that count now: the task's publish
  gate, evaluated for that result against the approval chains and merges, under the principals
  as of the merge's first parent, is open. A publication without approvals is named.
- Governance: every change to `principals.yaml` or a policy that the version before it governs
  carries the approvals that version requires; one that does not is named (it is not in force:
  decisions ignore it until it is approved).
- Custody: every custody commit (lease, work, effects, status, publication) is signed by a node
  or reconciler principal (`control/custody.py`); otherwise a warning, or an inconsistency when
  the mission requires signed custody.

Each finding is one line naming the commit and what is wrong; none means the record holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from reconciler.control.custody import check_custody
from reconciler.control.gates import Gates
from reconciler.control.governed import Governance
from reconciler.gitstate.leases import lease_at
from reconciler.gitstate.refs import WORK_PREFIX, lease_key, lease_ref
from reconciler.gitstate.store import Store
from reconciler.manifests.desired import DesiredState, index
from reconciler.manifests.layout import MISSIONS_DIR, PRINCIPALS_FILE
from reconciler.manifests.loader import GitSource, Snapshot, load
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import PolicyAction
from reconciler.vocabulary.leases import LeaseState
from reconciler.vocabulary.trailers import Trailer, WorkKind, parse

SCAN = 2000  # commits read per lease chain or work branch
HISTORY_SCAN = 100_000  # commits of the desired-state branch read for merges


@dataclass(frozen=True, slots=True)
class Finding:
    task: str
    commit: str
    problem: str
    severity: str = "error"  # "warning": reported, not an inconsistency (custody signatures, by default)

    def __str__(self) -> str:
        return f"{self.task}: {self.commit[:12]}: {self.problem}"


def _completed(store: Store, key: TaskKey) -> dict[str, int]:
    """Result commit -> the generation whose lease chain records it as completed."""
    out: dict[str, int] = {}
    tip = store.read(lease_ref(key))
    commit = store.repo[tip].peel(pygit2.Commit) if tip else None
    for _ in range(SCAN):
        if commit is None:
            break
        try:
            lease = lease_at(store.repo, str(commit.id))
        except CorruptState:
            lease = None
        if lease is not None and lease.state is LeaseState.COMPLETED and lease.result_commit:
            out[lease.result_commit] = lease.generation
        commit = commit.parents[0] if commit.parents else None
    return out


def _tasks(store: Store, mission: str | None) -> list[TaskKey]:
    keys = set()
    for ref in store.repo.references.iterator():
        key = lease_key(ref.name)
        if key is None and ref.name.startswith(WORK_PREFIX) and ref.name.count("/") == WORK_PREFIX.count("/") + 1:
            key = TaskKey(ref.name[len(WORK_PREFIX) :])
        if key is not None and (mission is None or key.mission == mission):
            keys.add(key)
    return sorted(keys)


class _DesiredAt:
    """Desired state at many commits, with the policies and principals in force there, each load
    reusing the manifests parsed before (by blob)."""

    def __init__(self, store: Store, governance: Governance) -> None:
        self.store = store
        self.governance = governance
        self.snapshot: Snapshot | None = None
        self.cache: dict[tuple[str, ...], DesiredState] = {}

    def __call__(self, commit: str) -> DesiredState:
        tree = self.store.repo[commit].peel(pygit2.Commit).tree
        # keyed by what holds manifests (publications change work files, not these) and by the
        # governed files in force
        held = tuple(str(tree[name].id) if name in tree else "-" for name in (MISSIONS_DIR, PRINCIPALS_FILE))
        key = held + tuple(sorted(self.governance.at(commit).files.values()))
        if key not in self.cache:
            self.snapshot = load(GitSource(self.store.repo, tree), previous=self.snapshot)
            self.cache[key] = self.governance.desired(index(self.snapshot.manifests()), commit)
        return self.cache[key]


def verify(store: Store, mission: str | None = None) -> list[Finding]:
    main = store.require_desired()
    governance = Governance(store)
    findings = _governance(governance, main, mission)
    gates, desired_at, merges = Gates(store, governance), _DesiredAt(store, governance), _merges(store, main)
    tasks = _tasks(store, mission)
    for key in tasks:
        completed = _completed(store, key)
        findings += _fencing(store, key, completed)
        findings += _publications(store, gates, desired_at, merges, key, completed)
    custody = check_custody(store, desired_at(main), main, tasks, mission)  # who wrote each custody commit
    findings += [Finding(f.task, f.commit, f.problem, "error" if f.required else "warning") for f in custody]
    return findings


def _governance(governance: Governance, main: str, mission: str | None) -> list[Finding]:
    """Changes to governed files that the version before them did not allow."""
    out = []
    for change in governance.at(main).refused:
        if mission is not None and change.path != PRINCIPALS_FILE and change.path.split("/")[1] != mission:
            continue
        gate = change.gate
        assert gate is not None  # a change no rule governs is in force
        have = ", ".join(f"{r.policy}@{r.version} rule {r.rule}: {len(r.counted)} of {r.needs}" for r in gate.rules)
        why = "; ".join(v.reason for v in gate.verdicts if not v.counts) or "no approval at all"
        out.append(
            Finding(
                change.path,
                change.commit,
                f"a {change.action} without the approvals the version before it requires ({have}; {why}): not in force",
            )
        )
    return out


def _fencing(store: Store, key: TaskKey, completed: dict[str, int]) -> list[Finding]:
    out = []
    tip = store.read(WORK_PREFIX + key)
    commit = store.repo[tip].peel(pygit2.Commit) if tip else None
    for _ in range(SCAN):
        if commit is None:
            break
        claims = parse(commit.message)
        if claims.get(Trailer.KIND) == WorkKind.RESULT:
            cid = str(commit.id)
            if cid not in completed:
                out.append(
                    Finding(
                        key,
                        cid,
                        f"a result commit (generation {claims.get(Trailer.GENERATION, '?')}) that no completed "
                        "lease records: from a stale generation, or forged",
                    )
                )
            elif str(completed[cid]) != claims.get(Trailer.GENERATION):
                out.append(
                    Finding(
                        key,
                        cid,
                        f"its MC-Generation says {claims.get(Trailer.GENERATION)}, the lease chain {completed[cid]}",
                    )
                )
        commit = commit.parents[0] if commit.parents else None
    return out


@dataclass(frozen=True, slots=True)
class _Merge:
    commit: str
    first_parent: str
    merged: frozenset[str]  # the other parents
    task: str | None  # MC-Task, on our publication merges (those with MC-Approved-By)


def _merges(store: Store, main: str) -> list[_Merge]:
    """Every merge on the branch's first-parent history (read once for all tasks)."""
    out = []
    commit = store.repo[main].peel(pygit2.Commit)
    for _ in range(HISTORY_SCAN):
        if len(commit.parent_ids) > 1:
            claims = parse(commit.message)
            ours = claims.get(Trailer.TASK) if Trailer.APPROVED_BY in claims else None
            merged = frozenset(str(p) for p in commit.parent_ids[1:])
            out.append(_Merge(str(commit.id), str(commit.parent_ids[0]), merged, ours))
        if not commit.parents:
            break
        commit = commit.parents[0]
    return out


def _publications(
    store: Store, gates: Gates, desired_at: _DesiredAt, merges: list[_Merge], key: TaskKey, completed: dict[str, int]
) -> list[Finding]:
    """Every merge of the task's result into the branch, judged under the desired state just
    before it (its first parent): the policy and principals in force when it was published."""
    out = []
    for merge in merges:
        ours = merge.task == key
        results = sorted(r for r in merge.merged if r in completed)
        if not (ours or results):
            continue
        result = results[0] if results else min(merge.merged)
        if ours and result not in completed:
            out.append(Finding(key, merge.commit, f"publishes {result[:12]}, which no completed lease records"))
            continue
        # ours: judged as the pass before it saw it; a person's merge: it is itself the approval
        at = merge.first_parent if ours else merge.commit
        then = desired_at(at)
        task = then.task(key)
        gate = gates.gate(then, at, task, PolicyAction.PUBLISH, result) if task else None
        if gate is None or not (gate.governed and gate.open):
            reasons = [v.reason for v in gate.verdicts if not v.counts] if gate else ["the task was not declared"]
            why = "; ".join(reasons) or "no approval at all"
            out.append(Finding(key, merge.commit, f"a publication without the approvals it needs ({why})"))
    return out
