"""The approval gates of a pass: for each result awaiting approval, whether its publish gate is
open, read from Git alone (approval chains, `principals.yaml` as of each approval's version,
less any key removed since: naming an old version never revives a removed key).

Verdicts are cached by what they depend on (the approval chain's tip, the result, the desired
commit), so a pass re-verifies signatures only when something moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pygit2

from reconciler.control.governed import Governance
from reconciler.gitstate.approvals import approvals_ref, merge_approvals, read_approvals
from reconciler.gitstate.history import authors_by_path
from reconciler.gitstate.publish import result_facts
from reconciler.gitstate.status import StatusView
from reconciler.gitstate.store import Store
from reconciler.governance.gate import Gate, evaluate
from reconciler.governance.rules import rules_for
from reconciler.manifests.desired import DesiredState, index
from reconciler.manifests.layout import MISSIONS_DIR, PRINCIPALS_FILE
from reconciler.manifests.loader import GitSource, load
from reconciler.manifests.model import Principals, Task
from reconciler.vocabulary.approvals import ApprovalRecord
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import PolicyAction
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.status import TaskStatus
from reconciler.vocabulary.trailers import Trailer


class Gates:
    def __init__(self, store: Store, governance: Governance | None = None) -> None:
        self.store = store
        self.governance = governance or Governance(store)
        self._cache: dict[tuple[str, str | None, str | None, str], Gate] = {}
        self._principals: dict[str, Principals | None] = {}
        self._authors_cache: dict[str, dict[str, frozenset[str]]] = {}
        # the tasks whose approval chains matter, for the statuses and desired state last seen
        self._waiting: tuple[object, object, list[str]] = (None, None, [])
        self._awaiting_seen: tuple[int | None, frozenset[str]] = (None, frozenset())

    def tips(
        self,
        statuses: Mapping[str, TaskStatus],
        desired: DesiredState | None = None,
        changes: StatusView | None = None,
    ) -> tuple[tuple[str, str | None], ...]:
        """The approval chains that can open a gate now, a pass's input: those of results awaiting
        approval, and of Pending tasks a `run` rule governs."""
        seen_statuses, seen_desired, waiting = self._waiting
        if statuses is not seen_statuses or desired is not seen_desired:  # a no-op pass scans nothing
            found = self._awaiting(statuses, changes)
            if desired is not None:
                found |= set(self.run_gated(desired, statuses))
            waiting = sorted(found)
            self._waiting = (statuses, desired, waiting)
        return tuple((k, self.store.read(approvals_ref(TaskKey(k)))) for k in waiting)

    def _awaiting(self, statuses: Mapping[str, TaskStatus], changes: StatusView | None) -> set[str]:
        """The results awaiting approval: found again only among the tasks that changed, when the
        statuses are told as changes to the ones seen last."""
        serial, seen = self._awaiting_seen
        if changes is not None and serial is not None and changes.serial == serial:  # the same view
            return set(seen)
        if changes is not None and changes.base is not None and changes.base == serial and changes.changed is not None:
            awaiting = set(seen)
            for k in changes.changed:
                st = statuses.get(k)
                if st is not None and st.phase == Phase.AWAITING_APPROVAL:
                    awaiting.add(k)
                else:
                    awaiting.discard(k)
        else:
            awaiting = {k for k, st in statuses.items() if st.phase == Phase.AWAITING_APPROVAL}
        self._awaiting_seen = (changes.serial if changes is not None else None, frozenset(awaiting))
        return set(awaiting)

    @staticmethod
    def run_gated(desired: DesiredState, statuses: Mapping[str, TaskStatus]) -> list[str]:
        """Pending tasks that an active `run` rule governs."""
        out = []
        for ms in desired.missions.values():
            if not any(r.action is PolicyAction.RUN for p in ms.policies.values() for r in p.rules):
                continue
            for task in ms.tasks.values():
                st = statuses.get(task.key)
                if (
                    st is not None
                    and st.phase == Phase.PENDING
                    and rules_for(ms.policies.values(), task, PolicyAction.RUN)
                ):
                    out.append(str(task.key))
        return out

    def open(self, desired: DesiredState, desired_commit: str, statuses: Mapping[str, TaskStatus]) -> dict[str, Gate]:
        """Task key -> its open publish gate, for results awaiting approval."""
        out: dict[str, Gate] = {}
        for key, tip in self.tips(statuses):
            task, st = desired.task(TaskKey(key)), statuses[key]
            if task is None or st.result_commit is None:
                continue
            gate = self.gate(desired, desired_commit, task, PolicyAction.PUBLISH, st.result_commit, tip)
            if gate.governed and gate.open:
                out[key] = gate
        return out

    def run_open(
        self, desired: DesiredState, desired_commit: str, statuses: Mapping[str, TaskStatus], specs: Mapping[str, str]
    ) -> dict[str, str]:
        """Task key -> the manifest (blob id) whose `run` gate is open, for Pending governed tasks."""
        out: dict[str, str] = {}
        for key in self.run_gated(desired, statuses):
            spec, task = specs.get(key), desired.task(TaskKey(key))
            assert task is not None  # run_gated names declared tasks only
            gate = self.gate(desired, desired_commit, task, PolicyAction.RUN, spec)
            if spec is not None and gate.governed and gate.open:
                out[key] = spec
        return out

    def gate(
        self,
        desired: DesiredState,
        desired_commit: str,
        task: Task,
        action: PolicyAction,
        commit: str | None,
        tip: str | None = None,
    ) -> Gate:
        key = TaskKey(task.key)
        tip = tip if tip is not None else self.store.read(approvals_ref(key))
        cached = self._cache.get((key + action, tip, commit, desired_commit))  # a merge moves desired_commit
        if cached is not None:
            return cached
        ms = desired.missions[key.mission]
        records = read_approvals(self.store, key)
        governing = rules_for(ms.policies.values(), task, action)
        if commit is not None and governing and action is PolicyAction.PUBLISH:
            policy = f"{governing[0][0].name}@{governing[0][0].version}"
            records += merge_approvals(self.store, desired_commit, commit, key, policy)
        gate = evaluate(
            task,
            action,
            commit,
            list(ms.policies.values()),
            records,
            lambda record: self._principals_at(record, desired_commit),
            self._authors(desired, desired_commit, task),
            executors=self._executors(desired, key, commit) if action is PolicyAction.PUBLISH else frozenset(),
        )
        self._cache[(key + action, tip, commit, desired_commit)] = gate
        return gate

    def _authors(self, desired: DesiredState, desired_commit: str, task: Task) -> frozenset[str]:
        """The principals who wrote the task's manifest (their email is an author of a commit
        that changed it): a rule excludes them unless it says `allowAuthor: true`."""
        tree = self.store.repo[desired_commit].peel(pygit2.Commit).tree
        # keyed by the manifests' content: a publication changes work files, not who wrote these
        manifests = str(tree[MISSIONS_DIR].id) if MISSIONS_DIR in tree else ""
        if manifests not in self._authors_cache:
            self._authors_cache[manifests] = authors_by_path(self.store, desired_commit, MISSIONS_DIR)
        emails = self._authors_cache[manifests].get(task.path, frozenset())
        people = desired.principals.principals if desired.principals is not None else ()
        return frozenset(p.name for p in people if p.email and p.email.lower() in emails)

    def _executors(self, desired: DesiredState, key: TaskKey, result: str | None) -> frozenset[str]:
        """The agent principals that ran the task: the agent the result commit names (by its id,
        or by the name a pull-mode agent claimed with)."""
        if result is None or desired.principals is None:
            return frozenset()
        agent = result_facts(self.store, result).get(Trailer.AGENT)
        if not agent:
            return frozenset()
        return frozenset(
            p.name
            for p in desired.principals.principals
            if p.agent is not None and (p.agent_id == agent or p.agent == f"{key.mission}/{agent}")
        )

    def _principals_at(self, record: ApprovalRecord, desired_commit: str) -> tuple[Principals | None, str | None]:
        """`principals.yaml` as of the desired-state commit the approval names, which must be in
        the history of the desired state being acted on."""
        named = record.trailers.get(Trailer.DESIRED, "")
        repo = self.store.repo
        try:
            known = named == desired_commit or repo.descendant_of(desired_commit, named)
        except (ValueError, KeyError, pygit2.GitError):
            known = False
        if not known:
            why = f"it names desired state {named[:12] or '(none)'}, which is not in the history of main"
            return self._read(desired_commit), why
        then, now = self._read(named), self._read(desired_commit)
        if then is None or now is None:
            return None, f"principals.yaml at {(named if then is None else desired_commit)[:12]} does not validate"
        return _still_declared(then, now), None

    def _read(self, commit: str) -> Principals | None:
        """The principals in force at `commit` (a change to them counts once approved)."""
        if commit not in self._principals:
            blob = self.governance.at(commit).files.get(PRINCIPALS_FILE)
            self._principals[commit] = self.governance.principals(blob) if blob else None
        return self._principals[commit]


def _still_declared(then: Principals, now: Principals) -> Principals:
    """The principals as the approval's version declares them, keeping only the keys that are
    still declared now: a key removed since never signs, whatever version an approval names."""
    current = {p.name: set(p.ssh_keys) for p in now.principals}
    kept = tuple(
        replace(p, ssh_keys=tuple(k for k in p.ssh_keys if k in current.get(p.name, set()))) for p in then.principals
    )
    return replace(then, principals=kept)


def desired_at(
    store: Store, commit: str | None = None, governance: Governance | None = None
) -> tuple[DesiredState, str]:
    """The desired state at `commit` (default: the desired-state branch's tip), with the policies
    and principals in force there, and that commit."""
    tip = commit or store.require_desired()
    tree = store.repo[tip].peel(pygit2.Commit).tree
    loaded = index(load(GitSource(store.repo, tree)).manifests())
    return (governance or Governance(store)).desired(loaded, tip), tip
