"""No lease outlives its task: a claim that lands while a pass cancels its task (the task left
main) is either refused or revoked, and never taken as the result of a later declaration.
The interleavings are forced with a real `mc claim` process run inside the pass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pygit2
import pytest

import reconciler.control.reconcile as reconcile_module
from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.refs import lease_ref
from reconciler.gitstate.store import Store
from tests.conftest import MC, env, git, mc, rev, status


def claim_process(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MC, "claim", "--agent", "worker", "-o", "json", "-C", str(repo)],
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )


@pytest.fixture
def removed(repo: Path) -> Path:
    """hello is Queued, then removed from main: the next pass cancels it."""
    assert mc("reconcile", "-C", str(repo)).exit_code == 0
    assert status(repo)["phase"] == "Queued"
    git(repo, "rm", "-q", "missions/m/tasks/hello.yaml")
    git(repo, "commit", "-qm", "drop hello")
    return repo


@pytest.fixture
def suspended(repo: Path) -> Path:
    """hello is Queued, then suspended on main: the next pass sends it back to Pending."""
    assert mc("reconcile", "-C", str(repo)).exit_code == 0
    path = repo / "missions/m/tasks/hello.yaml"
    path.write_text(path.read_text() + "  suspend: true\n")
    git(repo, "commit", "-qam", "suspend hello")
    return repo


def run_pass_with(repo: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> list[subprocess.CompletedProcess[str]]:
    """One pass, with a real claim run once at failpoint `where` inside it."""
    claims: list[subprocess.CompletedProcess[str]] = []

    def hook(name: str) -> None:
        if name == where and not claims:
            claims.append(claim_process(repo))

    monkeypatch.setattr(reconcile_module, "failpoint", hook)
    Reconciler(Store(pygit2.Repository(str(repo)))).run_once()
    return claims


def no_live_lease_and_no_replay(repo: Path, claimed: subprocess.CompletedProcess[str]) -> None:
    assert status(repo)["phase"] == "Cancelled"
    lease = json.loads(git(repo, "show", lease_ref("m/hello") + ":lease.json"))
    assert lease["state"] != "active", lease
    if claimed.returncode == 0:  # the claim won its race: its reports are refused
        got = json.loads(claimed.stdout)
        token, generation = got["leaseToken"], str(got["generation"])
        for args in (["heartbeat"], ["complete"], ["checkpoint", "--message", "late"]):
            late = mc(args[0], "m/hello", *args[1:], "-g", generation, "--lease-token", token, "-C", str(repo))
            assert late.exit_code == 1, late.output
    # declared again, it runs again under a new generation: nothing from before is replayed
    git(repo, "checkout", "-q", "HEAD~1", "--", "missions/m/tasks/hello.yaml")
    git(repo, "commit", "-qm", "hello again")
    assert mc("reconcile", "-C", str(repo)).exit_code == 0
    again = status(repo)
    assert again["phase"] == "Queued", again
    assert again["outputs"] is None


def test_a_claim_right_after_the_pass_read_the_leases(removed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [claimed] = run_pass_with(removed, monkeypatch, "reconcile-after-decide")
    assert claimed.returncode == 0, claimed.stderr  # the pass had not written yet: the claim won
    no_live_lease_and_no_replay(removed, claimed)  # ... and the pass, retrying, revoked it


def test_a_claim_between_the_fence_and_the_status(removed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tip = rev(removed, "refs/mc/status")
    [claimed] = run_pass_with(removed, monkeypatch, "reconcile-before-status-ref")
    assert claimed.returncode == 3, claimed  # it read the old queue, but the chain is fenced
    assert rev(removed, "refs/mc/status") != tip
    no_live_lease_and_no_replay(removed, claimed)


@pytest.mark.parametrize("where", ["reconcile-after-decide", "reconcile-before-status-ref"])
def test_a_claim_while_a_pass_sends_the_task_back_to_pending(
    suspended: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    [claimed] = run_pass_with(suspended, monkeypatch, where)
    st = status(suspended)
    lease = json.loads(git(suspended, "show", lease_ref("m/hello") + ":lease.json"))
    if claimed.returncode == 0:  # it landed before the fence: the pass saw the grant instead
        assert st["phase"] in ("Leased", "Running"), st
        assert lease["state"] == "active"
        assert st["generation"] == lease["generation"]
    else:  # it read the queue the pass was replacing: the fenced chain refused it
        assert claimed.returncode == 3, claimed
        assert st["phase"] == "Pending", st
        assert lease["state"] == "revoked"
