"""A task that needs others starts from their results: its work branch is created at main merged
with each result, so its worktree holds what they wrote, and its own path check counts only what
it changed itself."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import claim, git, mc, reconcile, status, write

TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata: {{name: {name}}}
spec:
  title: {name}
  kluster: main
  agent: {{name: worker}}
  needs: {needs}
  paths: ["{name}/**"]
"""


def declare(repo: Path, tasks: dict[str, list[str]]) -> None:
    (repo / "missions/m/tasks/hello.yaml").unlink()
    for name, needs in tasks.items():
        write(repo, f"missions/m/tasks/{name}.yaml", TASK.format(name=name, needs=needs))
    agent = repo / "missions/m/agents/worker.yaml"
    agent.write_text(agent.read_text() + "  replicas: 4\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tasks")
    reconcile(repo)


def work(repo: Path, key: str, files: dict[str, str]) -> Path:
    """Claim `key`, write `files` in a worktree of its branch and complete it; the worktree."""
    lease = claim(repo)
    assert lease["task"] == key, lease
    tree = repo.parent / key.replace("/", "-")
    git(repo, "worktree", "add", "-q", str(tree), str(lease["workBranch"]))
    for rel, text in files.items():
        write(tree, rel, text)
    done = mc("complete", key, "-g", "1", "--worktree", str(tree), "-C", str(repo))
    assert done.exit_code == 0, done.output
    reconcile(repo)
    return tree


def test_a_task_starts_from_the_results_it_needs_and_is_judged_on_its_own_changes(repo: Path) -> None:
    declare(repo, {"a": [], "b": [], "c": ["a", "b"]})
    first = work(repo, "m/a", {"a/out.txt": "from a"})
    second = work(repo, "m/b", {"b/out.txt": "from b"})
    assert not (second / "a/out.txt").exists()  # b needs nothing: it starts from main
    third = work(repo, "m/c", {"c/out.txt": "from c"})  # a and b changed paths outside c's scope
    assert (third / "a/out.txt").read_text() == "from a"
    assert (third / "b/out.txt").read_text() == "from b"
    assert status(repo, "m/c")["phase"] == "Succeeded"
    start = git(repo, "log", "--format=%s%n%b", "--first-parent", "-2", "refs/heads/mc/work/m/c")
    assert "Start m/c from" in start
    assert "MC-Kind: start" in start
    parents = git(repo, "log", "-1", "--format=%P", "refs/heads/mc/work/m/c~1").split()
    results = {str(status(repo, k)["result_commit"]) for k in ("m/a", "m/b")}
    assert set(parents) & results  # the start merges the results themselves: the history shows them
    assert first.exists()


def test_a_result_outside_its_paths_is_still_refused_after_a_start(repo: Path) -> None:
    declare(repo, {"a": [], "c": ["a"]})
    work(repo, "m/a", {"a/out.txt": "from a"})
    lease = claim(repo)
    tree = repo.parent / "c-tree"
    git(repo, "worktree", "add", "-q", str(tree), str(lease["workBranch"]))
    write(tree, "a/out.txt", "c overwrote a's file")
    refused = mc("complete", "m/c", "-g", "1", "--worktree", str(tree), "-C", str(repo))
    assert refused.exit_code == 1
    assert "outside the task's paths" in refused.stderr
    assert "a/out.txt" in refused.stderr


def test_results_that_conflict_are_refused_with_the_paths(repo: Path) -> None:
    declare(repo, {"a": [], "b": [], "c": ["a", "b"]})
    for name in ("a", "b"):
        (repo / "missions/m/tasks" / f"{name}.yaml").write_text(
            TASK.format(name=name, needs=[]).replace(f'paths: ["{name}/**"]', 'paths: ["shared/**"]')
        )
    git(repo, "commit", "-qam", "both write shared/")
    reconcile(repo)
    work(repo, "m/a", {"shared/x.txt": "a"})
    work(repo, "m/b", {"shared/x.txt": "b"})
    result = mc("claim", "--agent", "worker", "-C", str(repo))
    assert result.exit_code == 3  # nothing this agent can take; the other ready tasks would be served
    assert "no ready task can start: m/c cannot start: the results it needs conflict on shared/x.txt" in result.stderr
    assert git(repo, "for-each-ref", "refs/heads/mc/work/m/c") == ""  # nothing was written


def test_a_forged_start_commit_does_not_hide_changes_from_the_path_check(repo: Path) -> None:
    declare(repo, {"a": [], "c": ["a"]})
    work(repo, "m/a", {"a/out.txt": "from a"})
    lease = claim(repo)
    tree = repo.parent / "c-forger"
    git(repo, "worktree", "add", "-q", str(tree), str(lease["workBranch"]))
    write(tree, "a/out.txt", "c rewrote a's file")
    git(tree, "commit", "-qam", "innocent\n\nMC-Task: m/c\nMC-Kind: start")  # by hand, with our trailer
    write(tree, "c/out.txt", "from c")
    refused = mc("complete", "m/c", "-g", "1", "--worktree", str(tree), "-C", str(repo))
    assert refused.exit_code == 1, refused.output
    assert "a/out.txt" in refused.stderr


def test_a_start_is_recognised_when_main_ends_in_a_merge_commit(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "feature")
    write(repo, "docs/readme.txt", "a change merged the way pull requests are")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    declare(repo, {"a": [], "c": ["a"]})
    git(repo, "switch", "-q", "-c", "other")
    write(repo, "docs/more.txt", "main moves on while c runs")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more docs")
    git(repo, "switch", "-q", "main")
    work(repo, "m/a", {"a/out.txt": "from a"})
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge other", "other")  # main's tip: another merge
    work(repo, "m/c", {"c/out.txt": "from c"})
    assert status(repo, "m/c")["phase"] == "Succeeded"
