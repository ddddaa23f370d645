"""`mc audit TASK`: a task's chain of custody read back from Git, as an operator needs a receipt.

Who declared the task (commit, author), each lease generation (holder, node, window, how it
ended, spend), the checkpoints and the result on its work branch, the side effects recorded,
the outputs, every approval with its verdict (principal, key fingerprint, or why it does not
count), and the publication commit. Everything comes from refs of the repository; nothing is
taken from a log or a cache.
"""

from __future__ import annotations

from typing import Any

import pygit2

from reconciler.control.gates import Gates, desired_at
from reconciler.gitstate.effects import read_effects
from reconciler.gitstate.history import added_by
from reconciler.gitstate.leases import lease_at
from reconciler.gitstate.refs import lease_ref, work_ref
from reconciler.gitstate.status import read_status
from reconciler.gitstate.store import Store
from reconciler.vocabulary.clock import iso
from reconciler.vocabulary.errors import NotFound
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import PolicyAction
from reconciler.vocabulary.leases import LeaseState
from reconciler.vocabulary.trailers import Trailer, parse

SCAN = 500  # commits of a chain or branch read at most


def receipt(store: Store, key: TaskKey) -> dict[str, Any]:
    gates = Gates(store)  # one walk of the policies and principals in force, for both
    state, main = desired_at(store, governance=gates.governance)
    task = state.task(key)
    st = read_status(store).tasks.get(key)
    if task is None and st is None:
        raise NotFound(f"no task {key} in the desired state or the status", task=key)
    path = task.path if task is not None else f"missions/{key.mission}/tasks/{key.name}.yaml"
    doc: dict[str, Any] = {"task": key, "declared": _declared(store, main, path)}
    doc["leases"] = _leases(store, key)
    doc["work"] = _work(store, key, main)
    _, effects = read_effects(store, key)
    doc["effects"] = [{"key": k, **v} for k, v in effects.items()]
    if st is not None:
        doc.update(
            phase=str(st.phase),
            spend=st.spend.to_dict(),
            outputs=st.outputs,
            result=st.result_commit,
        )
    gate = None
    if task is not None and st is not None and st.result_commit:
        gate = gates.gate(state, main, task, PolicyAction.PUBLISH, st.result_commit)
    doc["approvals"] = [
        {"approval": v.approval, "principal": v.principal, "fingerprint": v.fingerprint, "counts": v.counts}
        | ({"reason": v.reason} if not v.counts else {})
        for v in (gate.verdicts if gate else [])
    ]
    doc["publication"] = _publication(store, main, key, st.result_commit if st else None)
    return doc


def _declared(store: Store, main: str, path: str) -> dict[str, Any] | None:
    found = added_by(store, main, path)
    if found is None:
        return None
    commit, author, at = found
    return {"commit": commit, "author": author, "at": at, "path": path}


def _leases(store: Store, key: TaskKey) -> list[dict[str, Any]]:
    """One entry per generation, oldest first: who held it, where, when, and how it ended."""
    tip = store.read(lease_ref(key))
    by_generation: dict[int, dict[str, Any]] = {}
    commit = store.repo[tip].peel(pygit2.Commit) if tip else None
    for _ in range(SCAN):
        if commit is None:
            break
        lease = lease_at(store.repo, str(commit.id))
        entry = by_generation.setdefault(lease.generation, {"generation": lease.generation, "commits": []})
        entry["commits"].insert(0, str(commit.id))
        if "state" not in entry:  # the newest commit of a generation says how it ended
            entry.update(
                state=str(lease.state),
                holder=lease.agent,
                node=lease.node,
                granted=iso(lease.granted_at),
                ended=iso(lease.renewed_at) if lease.state is not LeaseState.ACTIVE else None,
                reason=lease.reason,
                spend=lease.spend.to_dict(),
                result=lease.result_commit,
            )
        commit = commit.parents[0] if commit.parents else None
    return [by_generation[g] for g in sorted(by_generation)]


def _work(store: Store, key: TaskKey, main: str) -> list[dict[str, Any]]:
    """The work branch's own commits (start, checkpoints, result), oldest first."""
    tip = store.read(work_ref(key))
    out: list[dict[str, Any]] = []
    commit = store.repo[tip].peel(pygit2.Commit) if tip else None
    for _ in range(SCAN):
        if commit is None:
            break
        claims = parse(commit.message)
        on_main = str(commit.id) == main or store.repo.descendant_of(main, commit.id)
        if on_main and Trailer.KIND not in claims:  # where the branch left main (published work stays ours)
            break
        out.append(
            {
                "commit": str(commit.id),
                "kind": claims.get(Trailer.KIND, "by hand"),
                "generation": claims.get(Trailer.GENERATION),
                "agent": claims.get(Trailer.AGENT),
                "subject": commit.message.splitlines()[0] if commit.message else "",
            }
        )
        if claims.get(Trailer.KIND) == "start":
            break
        commit = commit.parents[0] if commit.parents else None
    return out[::-1]


def _publication(store: Store, main: str, key: TaskKey, result: str | None) -> dict[str, Any] | None:
    if result is None:
        return None
    commit = store.repo[main].peel(pygit2.Commit)
    for _ in range(SCAN):
        if len(commit.parent_ids) > 1 and result in {str(p) for p in commit.parent_ids[1:]}:
            claims = parse(commit.message)
            by = [
                line.split(": ", 1)[1]
                for line in commit.message.splitlines()
                if line.startswith(f"{Trailer.APPROVED_BY}: ")
            ]
            return {"commit": str(commit.id), "task": claims.get(Trailer.TASK, str(key)), "approvedBy": by}
        if not commit.parents:
            break
        commit = commit.parents[0]
    return None


STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://missioncontrol.dev/receipt/v1"


def statement(doc: dict[str, Any]) -> dict[str, Any]:
    """An in-toto statement: subject, the published commit (or the result, if not published);
    predicate, the receipt."""
    published = (doc.get("publication") or {}).get("commit")
    commit = published or doc.get("result")
    if not commit:
        raise NotFound(f"{doc['task']} has no result to attest yet", task=doc["task"])
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"missioncontrol:{doc['task']}", "digest": {"gitCommit": commit}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": doc,
    }


def statement_findings(store: Store, data: Any) -> list[str]:
    """What in a statement the repository does not bear out (empty: it holds)."""
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE or data.get("predicateType") != PREDICATE_TYPE:
        return ["not a MissionControl in-toto statement"]
    claimed = data.get("predicate") or {}
    try:
        key = TaskKey(str(claimed.get("task", "")))
        actual = statement(receipt(store, key))
    except (NotFound, ValueError) as exc:
        return [f"cannot rebuild the receipt: {exc}"]
    out = []
    if data.get("subject") != actual["subject"]:
        out.append(f"its subject {data.get('subject')} is not {actual['subject']}")
    for field in ("result", "publication", "approvals", "leases", "work", "effects", "declared"):
        if claimed.get(field) != actual["predicate"].get(field):
            out.append(f"{field}: not what the repository records")
    return out
