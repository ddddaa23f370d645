"""Approvals, `refs/mc/approvals/<mission>/<task>`: a chain of signed commits, one per approval.

An approval commit is made by `git commit-tree -S` with the approver's own signing setup
(`gpg.format ssh`, `user.signingkey`): MissionControl never holds a private key. Its trailers
name the task, the action, the exact commit approved, the policy and its version, and the
desired-state commit whose principals and policies the approver acted under (`MC-Desired`). Its
tree is empty: the statement is the message, and the signature covers it. Whether an approval
counts is decided elsewhere (`governance.approvals`), from Git alone, never from this record's
say-so.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2

from reconciler.gitstate.refs import ZERO, Update
from reconciler.gitstate.store import Store
from reconciler.vocabulary.approvals import ApprovalRecord
from reconciler.vocabulary.errors import Conflict, GitFailure, UsageError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.trailers import Trailer, compose, parse

APPROVALS_PREFIX = "refs/mc/approvals/"
HISTORY_LIMIT = 1000  # approvals read per task: far more than any rule requires


def approvals_ref(key: TaskKey) -> str:
    return APPROVALS_PREFIX + key


def read_approvals(store: Store, key: TaskKey) -> list[ApprovalRecord]:
    """Every approval recorded for `key`, oldest first."""
    tip = store.read(approvals_ref(key))
    out: list[ApprovalRecord] = []
    commit = store.repo[tip].peel(pygit2.Commit) if tip else None
    while commit is not None and len(out) < HISTORY_LIMIT:
        signature, signed = commit.gpg_signature
        out.append(
            ApprovalRecord(
                str(commit.id),
                parse(commit.message),
                f"{commit.author.name} <{commit.author.email}>",
                float(commit.commit_time),
                signature,
                signed or b"",
            )
        )
        commit = commit.parents[0] if commit.parents else None
    out.reverse()
    return out


MERGE_SCAN = 500  # commits of the desired-state branch searched for a merge of a result


def merge_approvals(store: Store, main: str, result: str, key: TaskKey, policy: str) -> list[ApprovalRecord]:
    """Merges of `result` into the desired-state branch (its first-parent history from `main`),
    as approvals: a person who merges the task's work branch with a signed merge commit approves
    exactly that result, under `policy` as it stands. Whether the signature counts is decided like
    any approval's; a forge's merge signed with the forge's key does not."""
    out: list[ApprovalRecord] = []
    commit = store.repo[main].peel(pygit2.Commit)
    for _ in range(MERGE_SCAN):
        merges_result = len(commit.parent_ids) > 1 and result in {str(p) for p in commit.parent_ids[1:]}
        if merges_result and Trailer.APPROVED_BY not in parse(commit.message):  # not our own publication
            signature, signed = commit.gpg_signature
            claims = {
                Trailer.TASK: str(key),
                Trailer.ACTION: "publish",
                Trailer.APPROVES: result,
                Trailer.POLICY: policy,
                Trailer.DESIRED: str(commit.parent_ids[0]),
            }
            out.append(
                ApprovalRecord(
                    str(commit.id),
                    claims,
                    f"{commit.author.name} <{commit.author.email}>",
                    float(commit.commit_time),
                    signature,
                    signed or b"",
                )
            )
        if not commit.parents:
            break
        commit = commit.parents[0]
    return out


def record_approval(store: Store, key: TaskKey, subject: str, body: str, trailers: dict[Trailer, object]) -> str:
    """Sign and record one approval (a compare-and-swap on the chain's tip); the commit id."""
    repo = store.repo
    tree = str(repo.TreeBuilder().write())
    ref = approvals_ref(key)
    for _ in range(4):
        store.sync()
        parent = store.read(ref)
        commit = _signed_commit(Path(repo.path), tree, parent, compose(subject, trailers, body))
        try:
            store.transact([Update(ref, commit, parent or ZERO)])
        except Conflict:  # a concurrent approval moved the chain: sign again on the new tip
            continue
        return commit
    raise GitFailure(f"could not record the approval of {key}: the chain kept moving", task=key)


def _signed_commit(git_dir: Path, tree: str, parent: str | None, message: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith("GIT_AUTHOR")}
    args = ["git", "--git-dir", str(git_dir), "commit-tree", "-S", tree, *(["-p", parent] if parent else [])]
    proc = subprocess.run(args, input=message, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise UsageError(
            "git could not sign the approval: "
            + (proc.stderr.strip().splitlines() or ["no reason given"])[-1]
            + "; an approval is a signed commit: set `git config gpg.format ssh` and "
            "`git config user.signingkey ~/.ssh/id_ed25519.pub` (and user.name, user.email)"
        )
    return proc.stdout.strip()
