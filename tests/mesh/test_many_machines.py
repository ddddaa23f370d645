"""Many machines through a real Git server: a `git daemon` on loopback, a reconciler and two
mesh nodes, each in its own clone, coordinating only through the server, run the loan-approval
chain up to its approval gate, each step exactly once; the letter is not sent before approval."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, MC, env, git
from tests.gitserver import GitDaemon
from tests.running import Running, wait_for

MC_MESH = str(Path(MC).parent / "mc-mesh")
CHAIN = ("parse-documents", "check-eligibility", "score-risk", "human-review")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitDaemon]:
    (tmp_path / "server").mkdir()
    daemon = GitDaemon(tmp_path / "server").start()
    yield daemon
    daemon.stop()


def status_at(clone: Path, task: str) -> dict[str, object] | None:
    git(clone, "fetch", "-q", "origin", "+refs/mc/*:refs/mc/*")
    try:
        data: dict[str, object] = json.loads(git(clone, "show", f"refs/mc/status:loan-approval/{task}.json"))
    except AssertionError:
        return None
    return data


def test_a_reconciler_and_two_nodes_through_a_git_daemon_run_the_chain_once(tmp_path: Path, server: GitDaemon) -> None:
    git(tmp_path / "server", "init", "-q", "--bare", "-b", "main", "loans.git")
    author = tmp_path / "author"
    shutil.copytree(EXAMPLES / "loan-approval", author)
    git(author, "init", "-q", "-b", "main")
    git(author, "add", "-A")
    git(author, "commit", "-qm", "Declare the mission")
    git(author, "remote", "add", "origin", server.url("loans.git"))
    git(author, "push", "-q", "origin", "main")
    clones = {name: tmp_path / name for name in ("reconciler", "n1", "n2", "observer")}
    for clone in clones.values():
        git(tmp_path, "clone", "-q", server.url("loans.git"), str(clone))

    reconciler = Running(clones["reconciler"], "--remote", "origin")
    nodes = [
        subprocess.Popen(
            [MC_MESH, "run", "--node", name, "--remote", "origin", "--log-format", "json", "-C", str(clones[name])],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"{name}.log").open("w"),
            env=env(LOAN_POST_OFFICE=str(tmp_path / "post-office")),
        )
        for name in ("n1", "n2")
    ]
    observer = clones["observer"]
    try:
        done = wait_for(
            lambda: (
                all((status_at(observer, t) or {}).get("phase") == "Succeeded" for t in CHAIN)
                and (status_at(observer, "draft-offer") or {}).get("phase") == "AwaitingApproval"
            ),
            timeout=120,
        )
        assert done, [(t, (status_at(observer, t) or {}).get("phase")) for t in (*CHAIN, "draft-offer")]
        assert (status_at(observer, "send-offer") or {}).get("phase") == "Pending"  # held behind the gate
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=30)
        reconciler.stop()
    ran_on = set()
    assert not (tmp_path / "post-office" / "messages.jsonl").exists()  # nothing was sent
    spent = [(status_at(observer, t) or {}).get("spend") for t in (*CHAIN, "draft-offer")]
    assert all(isinstance(s, dict) and s["tokens"] > 0 for s in spent), spent  # reported through the server
    for task in (*CHAIN, "draft-offer"):
        grants = [
            s
            for s in git(observer, "log", "--format=%s", f"refs/mc/leases/loan-approval/{task}").splitlines()
            if "grant" in s
        ]
        assert len(grants) == 1, (task, grants)  # each step ran exactly once
        lease = json.loads(git(observer, "show", f"refs/mc/leases/loan-approval/{task}:lease.json"))
        assert lease["generation"] == 1
        ran_on.add(lease["node"])
    assert ran_on <= {"n1", "n2"}
    nodes_seen = git(observer, "for-each-ref", "--format=%(refname)", "refs/mc/nodes/").split()
    assert nodes_seen == ["refs/mc/nodes/n1", "refs/mc/nodes/n2"]
