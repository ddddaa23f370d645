"""Approvals, `refs/mc/approvals/<mission>/<task>`: a chain of commits, one per approval; and
`refs/mc/approvals/_changes`, the approvals of changes to policies and principals.

An SSH approval is a commit made by `git commit-tree -S` with the approver's own signing setup
(`gpg.format ssh`, `user.signingkey`): MissionControl never holds a private key. Its trailers
name the task (or, for a change, the file: `MC-Target`), the action, the exact commit approved,
the policy and its version, and the desired-state commit whose principals and policies the
approver acted under (`MC-Desired`). Its tree is empty: the statement is the message, and the
signature covers it.

A sigstore approval is an unsigned commit on the same chain whose tree holds the statement
(`statement`, the same text an SSH approval's message would be) and the sigstore bundle over it
(`bundle.sigstore.json`): the claims are read from the statement, never from the commit.

Whether an approval counts is decided elsewhere (`governance.gate`), from Git alone, never from
this record's say-so.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pygit2

from reconciler.gitstate.refs import ZERO, Update
from reconciler.gitstate.store import Store
from reconciler.vocabulary.approvals import ApprovalForm, ApprovalRecord
from reconciler.vocabulary.errors import Conflict, GitFailure, UsageError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.trailers import Trailer, compose, identity, parse

APPROVALS_PREFIX = "refs/mc/approvals/"
CHANGES_REF = APPROVALS_PREFIX + "_changes"  # approvals of changes to policies and principals
HISTORY_LIMIT = 1000  # approvals read per task: far more than any rule requires
STATEMENT_FILE = "statement"
BUNDLE_FILE = "bundle.sigstore.json"


def approvals_ref(key: TaskKey) -> str:
    return APPROVALS_PREFIX + key


def read_approvals(store: Store, key: TaskKey) -> list[ApprovalRecord]:
    """Every approval recorded for `key`, oldest first."""
    return read_chain(store, approvals_ref(key))


def read_chain(store: Store, ref: str) -> list[ApprovalRecord]:
    """Every approval on the chain `ref`, oldest first."""
    tip = store.read(ref)
    out: list[ApprovalRecord] = []
    commit = store.repo[tip].peel(pygit2.Commit) if tip else None
    while commit is not None and len(out) < HISTORY_LIMIT:
        out.append(_record(commit))
        commit = commit.parents[0] if commit.parents else None
    out.reverse()
    return out


def _record(commit: pygit2.Commit) -> ApprovalRecord:
    author = _author(commit)
    tree = commit.tree
    if BUNDLE_FILE in tree and STATEMENT_FILE in tree:
        statement = tree[STATEMENT_FILE].peel(pygit2.Blob).data
        bundle = tree[BUNDLE_FILE].peel(pygit2.Blob).data
        claims = parse(statement.decode("utf-8", "replace"))
        return ApprovalRecord(
            str(commit.id), claims, author, float(commit.commit_time), bundle, statement, ApprovalForm.SIGSTORE
        )
    signature, signed = commit.gpg_signature
    return ApprovalRecord(
        str(commit.id), parse(commit.message), author, float(commit.commit_time), signature, signed or b""
    )


MERGE_SCAN = 500  # commits of the desired-state branch searched for a merge of a result


def merge_approvals(store: Store, main: str, result: str, key: TaskKey, policy: str) -> list[ApprovalRecord]:
    """Merges of `result` into the desired-state branch (its first-parent history from `main`),
    as approvals: a person who merges the task's work branch with a signed merge commit approves
    exactly that result, under `policy` as it stands. Whether the signature counts is decided like
    any approval's; a forge's merge signed with the forge's key does not."""
    out: list[ApprovalRecord] = []
    commit = store.repo[main].peel(pygit2.Commit)
    for _ in range(MERGE_SCAN):
        if result in {str(p) for p in commit.parent_ids[1:]}:
            claims = {
                Trailer.TASK: str(key),
                Trailer.ACTION: "publish",
                Trailer.APPROVES: result,
                Trailer.POLICY: policy,
                Trailer.DESIRED: str(commit.parent_ids[0]),
            }
            record = merge_record(commit, claims)
            if record is not None:
                out.append(record)
        if not commit.parents:
            break
        commit = commit.parents[0]
    return out


def merge_record(commit: pygit2.Commit, claims: dict[Trailer, str]) -> ApprovalRecord | None:
    """A person's merge commit as an approval making `claims` (what merging it approves), or
    None if it is not a merge, or is one of our own publications."""
    if len(commit.parent_ids) < 2 or Trailer.APPROVED_BY in parse(commit.message):
        return None
    signature, signed = commit.gpg_signature
    return ApprovalRecord(
        str(commit.id), claims, _author(commit), float(commit.commit_time), signature, signed or b"", ApprovalForm.MERGE
    )


def _author(commit: pygit2.Commit) -> str:
    return f"{commit.author.name} <{commit.author.email}>"


def statement(subject: str, body: str, trailers: dict[Trailer, object]) -> str:
    """The approval statement: what an SSH approval's commit message says and a sigstore bundle signs."""
    return compose(subject, trailers, body)


def record_approval(store: Store, ref: str, message: str) -> str:
    """Sign `message` with the approver's key and record it on the chain `ref` (a compare-and-swap
    on the chain's tip); the commit id."""
    repo = store.repo
    tree = str(repo.TreeBuilder().write())
    return _append(store, ref, lambda parent: _signed_commit(Path(repo.path), tree, parent, message))


def record_sigstore_approval(store: Store, ref: str, statement_bytes: bytes, bundle: bytes, who: str) -> str:
    """Record a sigstore bundle and the statement it signs on the chain `ref`; the commit id."""
    repo = store.repo
    builder = repo.TreeBuilder()
    builder.insert(STATEMENT_FILE, repo.create_blob(statement_bytes), pygit2.enums.FileMode.BLOB)
    builder.insert(BUNDLE_FILE, repo.create_blob(bundle), pygit2.enums.FileMode.BLOB)
    tree = builder.write()
    sig = pygit2.Signature(*identity(who))
    message = "Record a sigstore-signed approval\n\nThe statement and its bundle are in this commit's tree.\n"

    def make(parent: str | None) -> str:
        parents = [pygit2.Oid(hex=parent)] if parent else []
        return str(repo.create_commit(None, sig, sig, message, tree, parents))

    return _append(store, ref, make)


def _append(store: Store, ref: str, make: Callable[[str | None], str]) -> str:
    for _ in range(4):
        store.sync()
        parent = store.read(ref)
        commit = make(parent)
        try:
            store.transact([Update(ref, commit, parent or ZERO)])
        except Conflict:  # a concurrent approval moved the chain: make it again on the new tip
            continue
        return commit
    raise GitFailure(f"could not record the approval on {ref}: the chain kept moving")


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
