"""Approvals and publication through a shared Git server: an approver in their own clone signs
and pushes the approval (`mc approve --remote`), and a reconciler in another clone verifies it
and publishes the result to the server's main."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.gitstate.status_files import status_path
from tests.conftest import git, mc, write
from tests.gitserver import GitDaemon
from tests.governance.conftest import POLICY, PRINCIPALS, keypair


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitDaemon]:
    (tmp_path / "server").mkdir()
    daemon = GitDaemon(tmp_path / "server").start()
    yield daemon
    daemon.stop()


def remote_status(clone: Path) -> dict[str, object]:
    git(clone, "fetch", "-q", "origin", "+refs/mc/*:refs/mc/*")
    data: dict[str, object] = json.loads(git(clone, "show", "refs/mc/status:" + status_path("m/hello")))
    return data


def test_an_approval_pushed_from_one_clone_is_verified_and_published_by_another(
    repo: Path, tmp_path: Path, server: GitDaemon
) -> None:
    keys = {n: keypair(tmp_path, n) for n in ("alice", "carol")}
    public = {n: k.with_suffix(".pub").read_text().strip() for n, k in keys.items()}
    write(repo, "principals.yaml", PRINCIPALS.format(alice=public["alice"], carol=public["carol"]))
    write(repo, "missions/m/policies/gate.yaml", POLICY)
    task = repo / "missions/m/tasks/hello.yaml"
    task.write_text(task.read_text() + "  approval: {policy: gate}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a gated task")
    git(tmp_path / "server", "init", "-q", "--bare", "-b", "main", "m.git")
    git(repo, "remote", "add", "origin", server.url("m.git"))
    git(repo, "push", "-q", "origin", "main")
    clones = {name: tmp_path / name for name in ("reconciler", "agent", "approver")}
    for clone in clones.values():
        git(tmp_path, "clone", "-q", server.url("m.git"), str(clone))

    def reconcile() -> None:
        result = mc("reconcile", "--remote", "origin", "-C", str(clones["reconciler"]))
        assert result.exit_code == 0, result.output

    reconcile()
    claimed = mc("claim", "--agent", "worker", "--remote", "origin", "-C", str(clones["agent"]), "-o", "json")
    assert claimed.exit_code == 0, claimed.output
    token = json.loads(claimed.stdout)["leaseToken"]
    done = mc(
        "complete", "m/hello", "-g", "1", "--lease-token", token, "--remote", "origin", "-C", str(clones["agent"])
    )
    assert done.exit_code == 0, done.output
    reconcile()
    assert remote_status(clones["approver"])["phase"] == "AwaitingApproval"

    approver = clones["approver"]
    git(approver, "config", "gpg.format", "ssh")
    git(approver, "config", "user.signingkey", str(keys["alice"].with_suffix(".pub")))
    approved = mc("approve", "m/hello", "--remote", "origin", "-C", str(approver), "-o", "json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["open"] is True
    reconcile()
    st = remote_status(approver)
    assert st["phase"] == "Succeeded"
    git(approver, "fetch", "-q", "origin", "main")
    published = git(approver, "log", "-1", "--format=%B", "origin/main")
    assert "MC-Task: m/hello" in published
    assert "MC-Approved-By: alice SHA256:" in published
    parents = git(approver, "log", "-1", "--format=%P", "origin/main").split()
    assert parents[1] == st["result_commit"]
