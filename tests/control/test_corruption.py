"""One bad ref does not take the control plane down: corrupt or inconsistent observed state is
reported (a condition, a log line, `mc get`), its task is held where it is, and every other
task is served as usual, with the service running."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2
import pytest

from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.queue import QUEUE_DIR, read_queue
from reconciler.gitstate.refs import lease_ref
from reconciler.gitstate.status_files import status_path
from reconciler.gitstate.store import Store
from reconciler.gitstate.trees import edit_tree
from tests.conftest import TASK, claim, git, mc, rev, write
from tests.running import Running, phase, wait_for

Corrupt = Callable[[Path], None]


def blob(repo: Path, data: bytes) -> str:
    return str(pygit2.Repository(str(repo)).create_blob(data))


def point_lease_at(make: Callable[[pygit2.Repository], str]) -> Corrupt:
    def corrupt(repo: Path) -> None:
        target = make(pygit2.Repository(str(repo)))
        git(repo, "update-ref", lease_ref("m/victim"), target)

    return corrupt


def _tree(r: pygit2.Repository, name: str, data: bytes) -> pygit2.Oid:
    builder = r.TreeBuilder()
    builder.insert(name, r.create_blob(data), pygit2.enums.FileMode.BLOB)
    return builder.write()


def _commit(r: pygit2.Repository, name: str, data: bytes) -> str:
    sig = pygit2.Signature("t", "t@t")
    return str(r.create_commit(None, sig, sig, "forged", _tree(r, name, data), []))


def edit_status(edit: Callable[[pygit2.Repository, pygit2.TreeBuilder, pygit2.Tree], None]) -> Corrupt:
    """Commit a hand-edited status tree on top of refs/mc/status."""

    def corrupt(repo: Path) -> None:
        r = pygit2.Repository(str(repo))
        tip = r.revparse_single("refs/mc/status").peel(pygit2.Commit)
        root = r.TreeBuilder(tip.tree)
        edit(r, root, tip.tree)
        sig = pygit2.Signature("t", "t@t")
        new = r.create_commit(None, sig, sig, "hand edit", root.write(), [tip.id])
        git(repo, "update-ref", "refs/mc/status", str(new), str(tip.id))

    return corrupt


def victim_blob(data: Callable[[dict[str, object]], bytes]) -> Corrupt:
    def edit(r: pygit2.Repository, root: pygit2.TreeBuilder, tree: pygit2.Tree) -> None:
        path = status_path("m/victim")
        current = json.loads(r[tree[path].id].peel(pygit2.Blob).data)
        edited = r[edit_tree(r, tree, {path: r.create_blob(data(current))})].peel(pygit2.Tree)
        root.insert("m", edited["m"].id, pygit2.enums.FileMode.TREE)

    return edit_status(edit)


CORRUPTIONS: dict[str, tuple[Corrupt, bool]] = {  # how, and whether the victim was claimed first
    "lease ref at a blob": (point_lease_at(lambda r: str(r.create_blob(b"x"))), True),
    "lease ref at a tree": (point_lease_at(lambda r: str(_tree(r, "lease.json", b"{}"))), True),
    "lease commit without lease.json": (point_lease_at(lambda r: _commit(r, "other.json", b"{}")), True),
    "lease.json not JSON": (point_lease_at(lambda r: _commit(r, "lease.json", b"{not json")), True),
    "status with an unknown phase": (victim_blob(lambda st: json.dumps({**st, "phase": "Sleeping"}).encode()), False),
    "status not JSON": (victim_blob(lambda _: b"\x00garbage"), False),
    "queue removed": (edit_status(lambda r, root, tree: root.remove(QUEUE_DIR)), False),
    "Succeeded without a lease": (victim_blob(lambda st: json.dumps({**st, "phase": "Succeeded"}).encode()), False),
}


@pytest.fixture
def tasks(repo: Path) -> Path:
    """victim, other and after (which needs victim); the worker may hold five at once."""
    agent = repo / "missions/m/agents/worker.yaml"
    agent.write_text(agent.read_text() + "  replicas: 5\n")
    for name, needs in (("victim", "[]"), ("other", "[]"), ("after", "[victim]")):
        write(repo, f"missions/m/tasks/{name}.yaml", TASK.format(name=name, needs=needs))
    (repo / "missions/m/tasks/hello.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tasks")
    return repo


@pytest.fixture
def running(tasks: Path) -> Iterator[Running]:
    service = Running(tasks)
    assert wait_for(lambda: phase(tasks, "m/victim") == "Queued" and phase(tasks, "m/other") == "Queued")
    yield service
    service.stop()


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corruption_holds_its_task_and_the_rest_is_served(tasks: Path, running: Running, name: str) -> None:
    corrupt, claim_first = CORRUPTIONS[name]
    if claim_first:
        assert claim(tasks)["task"] == "m/victim" or True
        assert wait_for(lambda: phase(tasks, "m/victim") == "Leased" or phase(tasks, "m/other") == "Leased")
    corrupt(tasks)
    # a task declared after the corruption is queued; the untouched task can be claimed and finished
    write(tasks, "missions/m/tasks/fresh.yaml", TASK.format(name="fresh", needs="[]"))
    git(tasks, "add", "-A")
    git(tasks, "commit", "-qm", "fresh")
    assert wait_for(lambda: phase(tasks, "m/fresh") == "Queued"), running.logs()[-5:]
    assert running.alive()
    mine = claim(tasks, "--mission", "m")
    while mine["task"] == "m/victim":  # the corrupted one may still be queued: take the next
        mine = claim(tasks, "--mission", "m")
    done = mc("complete", str(mine["task"]), "-g", str(mine["generation"]), "-C", str(tasks))
    assert done.exit_code == 0, done.output
    assert wait_for(lambda: phase(tasks, str(mine["task"])) == "Succeeded")
    assert phase(tasks, "m/after") == "Pending"  # never queued on a status nobody can vouch for
    if name == "queue removed":
        assert QUEUE_DIR in git(tasks, "ls-tree", "--name-only", "refs/mc/status")
        return
    assert wait_for(lambda: any(e["event"] == "held" for e in running.logs()))
    held = next(e for e in running.logs() if e["event"] == "held")
    assert any(str(w).startswith("m/victim") for w in held["why"]), held  # type: ignore[attr-defined]
    for command in (["get", "tasks"], ["get", "leases"], ["describe", "task", "m/victim"]):
        shown = mc(*command, "-C", str(tasks))
        assert shown.exit_code == 0, shown.output
        assert "Traceback" not in shown.output
    assert mc("reconcile", "-C", str(tasks)).exit_code == 0
    assert running.alive()


def test_a_status_ref_at_a_blob_is_reported_and_the_service_survives(tasks: Path, running: Running) -> None:
    good = rev(tasks, "refs/mc/status")
    assert good is not None
    git(tasks, "update-ref", "refs/mc/status", blob(tasks, b"not a commit"))
    git(tasks, "commit", "-q", "--allow-empty", "-m", "wake it")
    assert wait_for(lambda: any(e["event"] == "pass.failed" for e in running.logs()))
    failed = next(e for e in running.logs() if e["event"] == "pass.failed")
    assert "refs/mc/status points at a blob" in str(failed["error"])
    refused = mc("claim", "--agent", "worker", "-C", str(tasks))
    assert refused.exit_code == 3
    assert "cannot be read" in refused.stderr
    assert mc("reconcile", "-C", str(tasks)).exit_code == 1
    git(tasks, "update-ref", "refs/mc/status", good)  # the repair the message names
    write(tasks, "missions/m/tasks/fresh.yaml", TASK.format(name="fresh", needs="[]"))
    git(tasks, "add", "-A")
    git(tasks, "commit", "-qm", "fresh")
    assert wait_for(lambda: phase(tasks, "m/fresh") == "Queued")
    assert running.alive()


def test_a_long_running_reconciler_keeps_holding_a_corrupt_status_after_it_writes(tasks: Path) -> None:
    """The view a pass writes keeps the blobs it could not read: the task is not declared anew."""
    reconciler = Reconciler(Store(pygit2.Repository(str(tasks))))
    reconciler.run_once()
    CORRUPTIONS["status not JSON"][0](tasks)
    write(tasks, "missions/m/tasks/fresh.yaml", TASK.format(name="fresh", needs="[]"))
    git(tasks, "add", "-A")
    git(tasks, "commit", "-qm", "fresh")
    for _ in range(3):  # the first of these writes (fresh is declared); the others read its view
        result = reconciler.run_once()
        assert "m/victim" in result.held
        assert not [t for t in result.transitions if t.key == "m/victim"]
    queue = read_queue(reconciler.store.repo, rev(tasks, "refs/mc/status"))
    assert "m/victim" not in [e.key for e in queue.tasks]
