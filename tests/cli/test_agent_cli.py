"""The pull-mode agent commands end to end, through `mc`, on a real repository."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2

from reconciler.gitstate.refs import lease_ref
from tests.conftest import claim, edit_task, git, mc, reconcile, status


def test_claim_prints_the_lease_and_the_reconciler_sees_it(queued: Path) -> None:
    lease = claim(queued)
    assert lease["task"] == "m/hello"
    assert lease["generation"] == 1
    assert str(lease["agent"]).startswith("worker-")
    assert lease["workBranch"] == "mc/work/m/hello"
    assert lease["workRef"] == "refs/heads/mc/work/m/hello"
    assert reconcile(queued) == [f"m/hello: Queued -> Leased (lease generation 1 granted to {lease['agent']})"]
    assert status(queued)["holder"] == lease["agent"]


def test_nothing_to_claim_exits_3(queued: Path) -> None:
    claim(queued)
    result = mc("claim", "--agent", "worker", "-C", str(queued))
    assert result.exit_code == 3
    assert "already holds 1 task(s) (replicas: 1): m/hello" in result.stderr
    reconcile(queued)
    after = mc("claim", "--agent", "worker", "-C", str(queued))
    assert after.exit_code == 3
    assert "no task is ready" in after.stderr


def test_claim_needs_an_identity_and_reports_need_a_generation(queued: Path) -> None:
    assert mc("claim", "-C", str(queued)).exit_code == 2
    assert mc("heartbeat", "m/hello", "-C", str(queued)).exit_code == 2


def test_invalid_outputs_are_refused_and_the_task_stays_running(queued: Path, tmp_path: Path) -> None:
    claim(queued)
    assert mc("heartbeat", "m/hello", "-g", "1", "-C", str(queued)).exit_code == 0
    reconcile(queued)
    bad = tmp_path / "bad.json"
    bad.write_text('{"answer": "forty-two"}')
    result = mc("complete", "m/hello", "-g", "1", "--outputs", str(bad), "-C", str(queued))
    assert result.exit_code == 1
    assert "outputs refused, task stays Running" in result.stderr
    assert "answer" in result.stderr
    assert reconcile(queued) == []
    assert status(queued)["phase"] == "Running"
    good = tmp_path / "good.json"
    good.write_text('{"answer": 42}')
    assert mc("complete", "m/hello", "-g", "1", "--outputs", str(good), "-C", str(queued)).exit_code == 0
    assert reconcile(queued)[0].startswith("m/hello: Running -> Succeeded")
    assert status(queued)["outputs"] == {"answer": 42}


def test_unreadable_outputs_are_a_usage_error(queued: Path, tmp_path: Path) -> None:
    claim(queued)
    (tmp_path / "x.json").write_text("{not json")
    assert mc("complete", "m/hello", "-g", "1", "--outputs", str(tmp_path / "x.json"), "-C", str(queued)).exit_code == 2
    assert (
        mc("complete", "m/hello", "-g", "1", "--outputs", str(tmp_path / "missing.json"), "-C", str(queued)).exit_code
        == 2
    )


def test_checkpoint_commits_with_trailers_on_the_work_branch(queued: Path, tmp_path: Path) -> None:
    lease = claim(queued)
    work = tmp_path / "work"
    git(queued, "worktree", "add", "-q", str(work), "mc/work/m/hello")
    (work / "notes").mkdir()
    (work / "notes" / "a.txt").write_text("progress\n")
    result = mc(
        "checkpoint",
        "m/hello",
        "--message",
        "halfway",
        "-g",
        "1",
        "--worktree",
        str(work),
        "-C",
        str(queued),
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert git(work, "status", "--porcelain") == ""  # the worktree is clean: the commit is its HEAD
    commit = json.loads(result.stdout)["commit"]
    repo = pygit2.Repository(str(queued))
    tip = repo.references["refs/heads/mc/work/m/hello"].peel(pygit2.Commit)
    assert str(tip.id) == commit
    assert "MC-Task: m/hello" in tip.message
    assert f"MC-Agent: {lease['agent']}" in tip.message
    assert "MC-Generation: 1" in tip.message
    assert tip.tree["notes/a.txt"].data == b"progress\n"  # type: ignore[union-attr]
    assert "principals.yaml" in tip.tree  # the change is added to the work branch, nothing is lost
    assert "missions/m/tasks/hello.yaml" in tip.tree


def test_fail_retries_with_backoff_then_fails(queued: Path) -> None:
    edit_task(queued, "  retries:\n    maxAttempts: 2\n    backoff: {initialSeconds: 0}\n")
    reconcile(queued)
    claim(queued)
    assert mc("fail", "m/hello", "-g", "1", "--reason", "tool crashed", "-C", str(queued)).exit_code == 0
    moves = reconcile(queued)
    assert any("Running -> Queued" in m and "tool crashed" in m and "attempt 2 of 2" in m for m in moves), moves
    assert claim(queued)["generation"] == 2
    assert mc("fail", "m/hello", "-g", "2", "--reason", "again", "-C", str(queued)).exit_code == 0
    moves = reconcile(queued)
    assert any("-> Failed" in m and "no attempts left" in m for m in moves), moves
    assert status(queued)["failures"] == 2


def test_release_does_not_use_an_attempt(queued: Path) -> None:
    claim(queued)
    assert mc("release", "m/hello", "-g", "1", "-C", str(queued)).exit_code == 0
    reconcile(queued)
    st = status(queued)
    assert (st["phase"], st["failures"], st["generation"]) == ("Queued", 0, 1)
    assert claim(queued)["generation"] == 2


def test_a_generation_ahead_of_the_lease_is_refused_and_changes_nothing(queued: Path) -> None:
    token = str(claim(queued)["leaseToken"])
    repo = pygit2.Repository(str(queued))
    before = {r: str(repo.references[r].target) for r in (lease_ref("m/hello"), "refs/heads/mc/work/m/hello")}
    for args in (
        ["heartbeat", "m/hello"],
        ["complete", "m/hello"],
        ["checkpoint", "m/hello", "--message", "x"],
        ["fail", "m/hello", "--reason", "x"],
    ):
        result = mc(*args, "-g", "7", "--lease-token", token, "-C", str(queued), "-o", "json")
        assert result.exit_code == 1
        assert "generation 7 of m/hello was never granted: the lease is at generation 1" in result.stderr
        error = json.loads(result.stdout)["error"]
        assert (error["code"], error["details"]["current"]) == ("stale_generation", 1)
    assert before == {r: str(repo.references[r].target) for r in before}


def test_removing_a_task_cancels_it_and_revokes_the_lease(queued: Path) -> None:
    claim(queued)
    reconcile(queued)
    git(queued, "rm", "-q", "missions/m/tasks/hello.yaml")
    git(queued, "commit", "-qm", "drop hello")
    moves = reconcile(queued)
    assert moves == ["m/hello: Leased -> Cancelled (removed from desired state)"]
    result = mc("heartbeat", "m/hello", "-g", "1", "-C", str(queued))
    assert result.exit_code == 1
    assert "revoked" in result.stderr


def test_spec_change_while_running_is_reported_not_applied(queued: Path) -> None:
    claim(queued)
    mc("heartbeat", "m/hello", "-g", "1", "-C", str(queued))
    reconcile(queued)
    spec_before = status(queued)["spec"]
    edit_task(queued, "  priority: 99\n")
    reconcile(queued)
    st = status(queued)
    assert st["phase"] == "Running"
    assert st["spec"] == spec_before
    conditions = {c["type"]: c for c in st["conditions"]}  # type: ignore[attr-defined]
    assert conditions["SpecChanged"]["status"] is True
    described = mc("describe", "task", "m/hello", "-C", str(queued))
    assert "SpecChanged" in described.stdout


def test_invalid_manifest_on_main_freezes_not_cancels(queued: Path) -> None:
    claim(queued)
    reconcile(queued)
    (queued / "missions/m/tasks/hello.yaml").write_text("kind: Task\nspec: {oops: 1}\n")
    git(queued, "commit", "-qam", "break hello")
    assert reconcile(queued) == []
    st = status(queued)
    assert st["phase"] == "Leased"
    assert any(c["type"] == "ManifestValid" for c in st["conditions"])  # type: ignore[attr-defined]


def test_get_tasks_and_leases_show_live_state(queued: Path) -> None:
    lease = claim(queued)
    reconcile(queued)
    tasks = json.loads(mc("get", "tasks", "-C", str(queued), "-o", "json").stdout)
    assert tasks[0]["status"]["phase"] == "Leased"
    assert tasks[0]["status"]["holder"] == lease["agent"]
    leases = json.loads(mc("get", "leases", "-C", str(queued), "-o", "json").stdout)
    assert [(x["task"], x["generation"], x["state"]) for x in leases] == [("m/hello", 1, "active")]
    table = mc("get", "tasks", "-C", str(queued)).stdout
    assert "Leased" in table


def test_agent_replicas_limit_concurrent_claims(repo: Path) -> None:
    for name in ("t1", "t2"):
        (repo / f"missions/m/tasks/{name}.yaml").write_text(
            (repo / "missions/m/tasks/hello.yaml")
            .read_text()
            .replace("name: hello", f"name: {name}")
            .replace("notes/m/**", f"{name}/**")
        )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more tasks")
    reconcile(repo)
    claim(repo)
    reconcile(repo)  # the index now says the worker holds one task; its manifest allows one (replicas: 1)
    result = mc("claim", "--agent", "worker", "-C", str(repo))
    assert result.exit_code == 3
    assert "replicas: 1" in result.stderr


def test_claim_takes_highest_priority_then_oldest(repo: Path) -> None:
    base = (repo / "missions/m/tasks/hello.yaml").read_text()
    agent = repo / "missions/m/agents/worker.yaml"
    agent.write_text(agent.read_text().replace("  budget:", "  replicas: 5\n  budget:"))

    def add(name: str, priority: int) -> None:
        text = base.replace("name: hello", f"name: {name}").replace("notes/m/**", f"{name}/**")
        (repo / f"missions/m/tasks/{name}.yaml").write_text(text + f"  priority: {priority}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"add {name}")
        reconcile(repo)  # one pass per task: each is declared (and so aged) in this order

    add("old-low", 10)
    add("old-mid", 60)
    add("new-mid", 60)
    add("new-high", 90)
    order = [claim(repo)["name"] for _ in range(4)]
    assert order == ["new-high", "old-mid", "new-mid", "hello"]
