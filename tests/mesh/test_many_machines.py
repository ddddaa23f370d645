"""Many machines through a real Git server: a `git daemon` on loopback, a reconciler and two
mesh nodes, each in its own clone, coordinating only through the server, run the loan-approval
chain up to its approval gate, each step exactly once; the letter is not sent before approval.
A node killed with SIGKILL mid-task loses that task to the other node, at the next generation."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.gitstate.refs import lease_ref
from reconciler.gitstate.status_files import status_path
from tests.conftest import EXAMPLES, MC, env, git
from tests.gitserver import GitDaemon
from tests.mesh.test_node import processes_with
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
        data: dict[str, object] = json.loads(
            git(clone, "show", "refs/mc/status:" + status_path("loan-approval/" + task))
        )
    except AssertionError:
        return None
    return data


def publish(tmp_path: Path, server: GitDaemon, slow: str = "") -> dict[str, Path]:
    """The example on the server (its first step made to take a while when `slow` marks it),
    and a clone for the reconciler, each node and an observer."""
    git(tmp_path / "server", "init", "-q", "--bare", "-b", "main", "loans.git")
    author = tmp_path / "author"
    shutil.copytree(EXAMPLES / "loan-approval", author)
    if slow:
        agent = author / "missions/loan-approval/agents/doc-parser.yaml"
        command = f'command: ["sh", "-c", "sleep 5; : {slow}; exec python3 agents-bin/parse_documents.py"]'
        agent.write_text(agent.read_text().replace('command: ["python3", "agents-bin/parse_documents.py"]', command))
    git(author, "init", "-q", "-b", "main")
    git(author, "add", "-A")
    git(author, "commit", "-qm", "Declare the mission")
    git(author, "remote", "add", "origin", server.url("loans.git"))
    git(author, "push", "-q", "origin", "main")
    clones = {name: tmp_path / name for name in ("reconciler", "n1", "n2", "observer")}
    for clone in clones.values():
        git(tmp_path, "clone", "-q", server.url("loans.git"), str(clone))
    return clones


def start_node(tmp_path: Path, clone: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [MC_MESH, "run", "--node", clone.name, "--remote", "origin", "--log-format", "json", "-C", str(clone), *extra],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / f"{clone.name}.log").open("w"),
        env=env(LOAN_POST_OFFICE=str(tmp_path / "post-office")),
    )


def at_the_gate(observer: Path) -> bool:
    return (
        all((status_at(observer, t) or {}).get("phase") == "Succeeded" for t in CHAIN)
        and (status_at(observer, "draft-offer") or {}).get("phase") == "AwaitingApproval"
    )


def lease_at(clone: Path, task: str) -> dict[str, object] | None:
    git(clone, "fetch", "-q", "origin", "+refs/mc/*:refs/mc/*")
    try:
        data: dict[str, object] = json.loads(git(clone, "show", lease_ref(f"loan-approval/{task}") + ":lease.json"))
    except AssertionError:
        return None
    return data


def test_a_reconciler_and_two_nodes_through_a_git_daemon_run_the_chain_once(tmp_path: Path, server: GitDaemon) -> None:
    clones = publish(tmp_path, server)
    reconciler = Running(clones["reconciler"], "--remote", "origin")
    nodes = [start_node(tmp_path, clones[name]) for name in ("n1", "n2")]
    observer = clones["observer"]
    try:
        done = wait_for(lambda: at_the_gate(observer), timeout=120)
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
            for s in git(observer, "log", "--format=%s", lease_ref(f"loan-approval/{task}")).splitlines()
            if "grant" in s
        ]
        assert len(grants) == 1, (task, grants)  # each step ran exactly once
        lease = json.loads(git(observer, "show", lease_ref(f"loan-approval/{task}") + ":lease.json"))
        assert lease["generation"] == 1
        ran_on.add(lease["node"])
    assert ran_on <= {"n1", "n2"}
    nodes_seen = git(observer, "for-each-ref", "--format=%(refname)", "refs/mc/nodes/").split()
    assert nodes_seen == ["refs/mc/nodes/n1", "refs/mc/nodes/n2"]


def test_a_node_killed_mid_task_loses_it_to_the_other_node(tmp_path: Path, server: GitDaemon) -> None:
    marker = f"slow-{uuid.uuid4().hex}"
    clones = publish(tmp_path, server, slow=marker)
    reconciler = Running(clones["reconciler"], "--remote", "origin")
    fast = ("--ttl", "3", "--lease-ttl", "3")  # a dead node's leases lapse within seconds
    nodes = {name: start_node(tmp_path, clones[name], *fast) for name in ("n1", "n2")}
    observer = clones["observer"]
    try:
        assert wait_for(lambda: (lease_at(observer, "parse-documents") or {}).get("started_at") is not None, 60)
        first = lease_at(observer, "parse-documents")
        assert first is not None
        victim = str(first["node"])
        nodes[victim].send_signal(signal.SIGKILL)  # mid-task: its agent sleeps for 5 s
        nodes[victim].wait()
        done = wait_for(lambda: at_the_gate(observer), timeout=120)
        assert done, [(t, (status_at(observer, t) or {}).get("phase")) for t in (*CHAIN, "draft-offer")]
    finally:
        for node in nodes.values():
            if node.poll() is None:
                node.terminate()
                node.wait(timeout=30)
        reconciler.stop()
        for pid in processes_with(marker):  # the dead node's orphan; a restarted node stops them
            os.kill(pid, signal.SIGKILL)
    lease = lease_at(observer, "parse-documents")
    assert lease is not None
    assert (lease["generation"], lease["node"], lease["state"]) == (2, ({"n1", "n2"} - {victim}).pop(), "completed")
    history = git(observer, "log", "--format=%s", lease_ref("loan-approval/parse-documents")).splitlines()
    assert any("expired generation 1" in line for line in history), (
        history
    )  # the dead node's generation was ended first
    status = status_at(observer, "parse-documents")
    assert status is not None
    assert (status["attempts"], status["failures"]) == (2, 1)
    git(observer, "fetch", "-q", "origin", "+refs/heads/mc/*:refs/heads/mc/*")
    result = git(observer, "log", "-1", "--format=%B", "refs/heads/mc/work/loan-approval/parse-documents")
    assert "MC-Generation: 2" in result  # the only result: none from the dead node's generation
