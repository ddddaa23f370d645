"""A claim reads the front of its agent's queue (`agentops/claim.py`): it takes tasks in claim
order however stale the queue is, skips what its agent took since the last pass, checks held
leases only when the holdings reach `replicas`, and reads the holdings in either format."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pygit2
import pytest

from reconciler.agentops.claim import claim
from reconciler.agentops.reports import end
from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.commits import single_file_tree, write_commit
from reconciler.gitstate.holdings import HOLDINGS_FILE, read_holdings
from reconciler.gitstate.queue import META_FILE, QUEUE_DIR
from reconciler.gitstate.refs import ZERO, Update, agent_ref, lease_ref, transact
from reconciler.gitstate.store import Store
from reconciler.manifests.model import agent_id
from reconciler.vocabulary.errors import NothingToClaim
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import LeaseHandle, LeaseState
from tests.conftest import git, write

WORKER = agent_id("m", "worker")


def task(name: str, priority: int) -> str:
    return f"""\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata:
  name: {name}
spec:
  title: {name}
  kluster: main
  priority: {priority}
  agent:
    name: worker
"""


def with_tasks(repo: Path, count: int, replicas: int) -> Store:
    agent = repo / "missions/m/agents/worker.yaml"
    agent.write_text(agent.read_text() + f"  replicas: {replicas}\n")
    (repo / "missions/m/tasks/hello.yaml").unlink()
    for i in range(count):
        write(repo, f"missions/m/tasks/t{i:03d}.yaml", task(f"t{i:03d}", i % 5))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tasks")
    store = Store(pygit2.Repository(str(repo)))
    Reconciler(store).run_once()
    return store


def in_claim_order(count: int) -> list[str]:
    return [f"m/t{i:03d}" for i in sorted(range(count), key=lambda i: (-(i % 5), i))]


def test_claims_without_a_pass_take_every_task_in_claim_order_past_the_first_pages(repo: Path) -> None:
    """Every claim after the first finds the queue stale: what its agent took is skipped on the
    holdings' word, and the pages after the first are read as the front is used up."""
    store = with_tasks(repo, 300, 1000)
    taken = [claim(store, WORKER, time.time()).lease.key for _ in range(300)]
    assert taken == in_claim_order(300)
    with pytest.raises(NothingToClaim, match="claimed by someone else"):
        claim(store, WORKER, time.time())


def test_holdings_are_checked_only_at_the_limit_and_then_ended_ones_are_dropped(repo: Path) -> None:
    store = with_tasks(repo, 6, 3)
    a, b, c, d = in_claim_order(6)[:4]
    now = time.time()
    first = claim(store, WORKER, now)
    end(store, TaskKey(a), LeaseHandle(first.lease.generation, first.secret), now, LeaseState.RELEASED, "not now")

    def listed() -> list[str]:
        return [h.key for h in read_holdings(store, WORKER)[1]]

    assert claim(store, WORKER, now).lease.key == b  # the queue still lists a: it took a since, so skips it
    assert listed() == [a, b]  # below the limit no lease is read: the ended one stays listed
    assert claim(store, WORKER, now).lease.key == c
    assert listed() == [a, b, c]
    assert claim(store, WORKER, now).lease.key == d  # at the limit: a's lease ended, so a goes
    assert listed() == [b, c, d]
    with pytest.raises(NothingToClaim, match=r"already holds 3 task\(s\) \(replicas: 3\)"):
        claim(store, WORKER, now)


def test_holdings_are_a_message_on_an_empty_tree_and_the_old_file_is_still_read(repo: Path) -> None:
    store = with_tasks(repo, 3, 1)
    r = store.repo
    # written before: a holdings.json file, listing a task whose lease chain cannot be read (held)
    git(repo, "update-ref", lease_ref("m/t001"), str(r.create_blob(b"not a lease")))
    old = {"agent": WORKER, "holdings": [{"key": "m/t001", "generation": 1}]}
    tree = single_file_tree(r, HOLDINGS_FILE, json.dumps(old).encode())
    transact(r, [Update(agent_ref(WORKER), write_commit(r, WORKER, "agent worker: holds m/t001\n", tree, []), ZERO)])
    with pytest.raises(NothingToClaim, match=r"already holds 1 task\(s\) \(replicas: 1\): m/t001"):
        claim(store, WORKER, time.time())
    git(repo, "update-ref", "-d", agent_ref(WORKER))
    got = claim(store, WORKER, time.time())
    tip = store.read(agent_ref(WORKER))
    assert tip is not None
    written = r[tip].peel(pygit2.Commit)
    assert len(written.tree) == 0
    recorded = [{"key": got.lease.key, "generation": got.lease.generation}]
    assert json.loads(written.message.split("\n\n")[1])["holdings"] == recorded
    assert [h.key for h in read_holdings(store, WORKER)[1]] == [got.lease.key]


def test_a_queue_that_cannot_be_read_makes_the_claim_wait_until_the_next_pass(repo: Path) -> None:
    store = with_tasks(repo, 2, 2)
    status = store.read("refs/mc/status")
    assert status is not None
    r = store.repo
    root = r[status].peel(pygit2.Commit).tree
    edited = r.TreeBuilder(root)
    edited.remove(QUEUE_DIR)
    broken = write_commit(r, "t", "hand edit\n", edited.write(), [status])
    git(repo, "update-ref", "refs/mc/status", broken, status)
    with pytest.raises(NothingToClaim, match=rf"\({META_FILE}\) of status commit .*rewrites it at its next pass"):
        claim(store, WORKER, time.time())
    Reconciler(store).run_once()
    assert claim(store, WORKER, time.time()).lease.key == in_claim_order(2)[0]
