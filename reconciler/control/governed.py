"""The policies and principals in force at a desired-state commit.

A commit that changes `principals.yaml` or a mission's policy brings the new version into force
only if the version in force before it allows the change: no `change-principals` or
`change-policy` rule governs it, or enough approvals of exactly that commit count under those
rules, checked against the principals in force before it (`governance.changes`). Otherwise the
change waits, and the version before it stays in force, until the approvals arrive.

Approvals of a change are SSH-signed (or sigstore) records on `refs/mc/approvals/_changes`
(`MC-Action: change-policy|change-principals`, `MC-Target: FILE`, `MC-Approves: COMMIT`), or the
change commit itself when it is a merge signed by a principal (a pull request merged by a
maintainer).

The walk follows the branch's first parents from the newest commit already known, so a new
commit costs a comparison of two tree ids unless it touches governed files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import pygit2

from reconciler.gitstate.approvals import CHANGES_REF, merge_record, read_chain
from reconciler.gitstate.store import Store
from reconciler.governance.changes import change_action, change_rules
from reconciler.governance.gate import Gate, judge
from reconciler.manifests.desired import DesiredState, MissionState
from reconciler.manifests.layout import MISSIONS_DIR, PRINCIPALS_FILE, classify
from reconciler.manifests.manifest_file import read_manifest
from reconciler.manifests.model import Policy, Principals, Rule
from reconciler.vocabulary.approvals import ApprovalRecord
from reconciler.vocabulary.kinds import PolicyAction
from reconciler.vocabulary.trailers import Trailer


@dataclass(frozen=True, slots=True)
class Change:
    """One governed file changed by one commit of the branch, and whether it came into force."""

    commit: str
    path: str
    action: PolicyAction
    gate: Gate | None  # None: no rule of the version before governed it

    @property
    def in_force(self) -> bool:
        return self.gate is None or (self.gate.governed and self.gate.open)


@dataclass(frozen=True, slots=True)
class InForce:
    files: Mapping[str, str]  # governed path -> the blob in force
    changes: tuple[Change, ...] = ()  # every change to a governed file, oldest first

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.changes if not c.in_force]


def governed_files(tree: pygit2.Tree | None) -> dict[str, str]:
    """Path -> blob id of `principals.yaml` and every mission's policy files in `tree`."""
    out: dict[str, str] = {}
    if tree is None:
        return out
    if PRINCIPALS_FILE in tree:
        out[PRINCIPALS_FILE] = str(tree[PRINCIPALS_FILE].id)
    if MISSIONS_DIR in tree and tree[MISSIONS_DIR].type_str == "tree":
        for mission in tree[MISSIONS_DIR].peel(pygit2.Tree):
            if mission.type_str != "tree":
                continue
            mtree = mission.peel(pygit2.Tree)
            if "policies" in mtree and mtree["policies"].type_str == "tree":
                for f in mtree["policies"].peel(pygit2.Tree):
                    if f.type_str == "blob":
                        out[f"{MISSIONS_DIR}/{mission.name}/policies/{f.name}"] = str(f.id)
    return out


def _fingerprint(tree: pygit2.Tree | None) -> tuple[str, str]:
    if tree is None:
        return ("", "")
    return tuple(str(tree[n].id) if n in tree else "" for n in (PRINCIPALS_FILE, MISSIONS_DIR))  # type: ignore[return-value]


AUTHORS_SCAN = 200  # commits of a merged branch read for who wrote the change


def _change_authors(repo: pygit2.Repository, commit: pygit2.Commit) -> set[str]:
    """Who wrote a change: its commit's author; for a merge, the authors of the commits it brings
    in (the person who merges is an approver, not an author)."""
    if len(commit.parent_ids) < 2:
        return {commit.author.email.lower()}
    walker = repo.walk(commit.parent_ids[1], pygit2.enums.SortMode.TOPOLOGICAL)
    walker.hide(commit.parent_ids[0])
    return {c.author.email.lower() for _, c in zip(range(AUTHORS_SCAN), walker, strict=False)}


class Governance:
    """In-force policies and principals per commit, cached; re-read when a change is approved."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, InForce] = {}
        self._chain_tip: str | None = None
        self._records: list[ApprovalRecord] = []
        self._parsed: dict[tuple[str, str], object] = {}

    def at(self, commit: str) -> InForce:
        tip = self.store.read(CHANGES_REF)
        if tip != self._chain_tip:
            self._cache.clear()
            self._chain_tip = tip
            self._records = read_chain(self.store, CHANGES_REF) if tip else []
        repo = self.store.repo
        pending: list[pygit2.Commit] = []
        c: pygit2.Commit | None = repo[commit].peel(pygit2.Commit)
        while c is not None and str(c.id) not in self._cache:
            pending.append(c)
            c = c.parents[0] if c.parents else None
        state = self._cache[str(c.id)] if c is not None else InForce({})
        for c in reversed(pending):
            state = self._step(c, state)
            self._cache[str(c.id)] = state
        return state

    def desired(self, desired: DesiredState, commit: str) -> DesiredState:
        """`desired` (as loaded at `commit`) with the policies and principals in force there."""
        tree = self.store.repo[commit].peel(pygit2.Commit).tree
        current, in_force = governed_files(tree), self.at(commit).files
        differ = {p for p in set(current) | set(in_force) if current.get(p) != in_force.get(p)}
        if not differ:
            return desired
        missions = dict(desired.missions)
        for path in sorted(differ):
            if path == PRINCIPALS_FILE:
                continue
            name = path.split("/")[1]
            ms = missions.get(name) or MissionState(name)
            policies = {k: p for k, p in ms.policies.items() if p.path != path}
            kept = self._policy(path, in_force[path]) if path in in_force else None
            if kept is not None:
                policies[kept.meta.name] = kept
            missions[name] = replace(ms, policies=policies)
        principals = desired.principals
        if PRINCIPALS_FILE in differ:
            principals = self.principals(in_force[PRINCIPALS_FILE]) if PRINCIPALS_FILE in in_force else None
        return DesiredState(principals, missions)

    def _step(self, commit: pygit2.Commit, before: InForce) -> InForce:
        parent = commit.parents[0].tree if commit.parents else None
        if _fingerprint(parent) == _fingerprint(commit.tree):
            return before
        old, new = governed_files(parent), governed_files(commit.tree)
        changed = sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
        if not changed:
            return before
        policies = [
            p for path, blob in before.files.items() if path != PRINCIPALS_FILE if (p := self._policy(path, blob))
        ]
        principals = self.principals(before.files[PRINCIPALS_FILE]) if PRINCIPALS_FILE in before.files else None
        files, changes = dict(before.files), list(before.changes)
        cid = str(commit.id)
        for path in changed:
            governing = change_rules(path, policies)
            gate = self._gate(commit, path, governing, principals) if governing else None
            change = Change(cid, path, change_action(path), gate)
            if change.in_force:
                if path in new:
                    files[path] = new[path]
                else:
                    files.pop(path, None)
            changes.append(change)
        return InForce(files, tuple(changes))

    def _gate(
        self,
        commit: pygit2.Commit,
        path: str,
        governing: list[tuple[Policy, Rule]],
        principals: Principals | None,
    ) -> Gate:
        cid = str(commit.id)
        action = change_action(path)
        records = [r for r in self._records if r.trailers.get(Trailer.APPROVES) == cid]
        policy = governing[0][0]
        claims = {
            Trailer.TARGET: path,
            Trailer.ACTION: str(action),
            Trailer.APPROVES: cid,
            Trailer.POLICY: f"{policy.name}@{policy.version}",
        }
        merged = merge_record(commit, claims)  # a signed merge of the change approves it
        if merged is not None:
            records.append(merged)
        emails = _change_authors(self.store.repo, commit)
        people = principals.principals if principals is not None else ()
        authors = frozenset(p.name for p in people if p.email and p.email.lower() in emails)

        def principals_before(_: ApprovalRecord) -> tuple[Principals | None, str | None]:
            if principals is None:
                return None, "no principals.yaml was in force before the change"
            return principals, None

        return judge(path, action, cid, governing, records, principals_before, authors)

    def _policy(self, path: str, blob: str) -> Policy | None:
        obj = self._manifest(path, blob)
        return obj if isinstance(obj, Policy) else None

    def principals(self, blob: str) -> Principals | None:
        obj = self._manifest(PRINCIPALS_FILE, blob)
        return obj if isinstance(obj, Principals) else None

    def _manifest(self, path: str, blob: str) -> object:
        if (path, blob) not in self._parsed:
            location = classify(path)
            data = self.store.repo[blob].peel(pygit2.Blob).data
            mf = read_manifest(path, blob, data, location) if location is not None else None
            self._parsed[(path, blob)] = mf.obj if mf is not None else None
        return self._parsed[(path, blob)]
