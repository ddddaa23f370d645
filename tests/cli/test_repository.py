"""Finding the repository and the desired-state branch as a new user expects: from a
subdirectory, on `master`, before the first commit, and `mc init` for a second mission."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pygit2
import pytest

from cli.main import app
from reconciler.gitstate.bootstrap import init_repository
from tests.conftest import MC, env, git, mc, rev, write


@pytest.fixture
def on_master(tmp_path: Path) -> Path:
    root = tmp_path / "r"
    pygit2.init_repository(str(root), initial_head="master")
    init_repository(root, mission="m", owner="alice")
    return root


def test_a_missing_branch_is_named_with_the_fix(on_master: Path) -> None:
    result = mc("reconcile", "-C", str(on_master))
    assert result.exit_code == 2, result.output
    assert "the desired-state branch 'main' does not exist" in result.stderr
    assert "HEAD is on 'master'" in result.stderr
    assert "--branch master" in result.stderr
    assert "git config mc.branch master" in result.stderr
    assert rev(on_master, "refs/mc/status") is None


def test_the_branch_can_be_chosen_by_option_env_or_config(on_master: Path) -> None:
    assert mc("reconcile", "-C", str(on_master), "--branch", "master").exit_code == 0
    assert rev(on_master, "refs/mc/status") is not None
    git(on_master, "config", "mc.branch", "master")
    claimed = mc("claim", "--agent", "worker", "-C", str(on_master), "-o", "json")
    assert claimed.exit_code == 0, claimed.output
    assert rev(on_master, "refs/heads/mc/work/m/hello") == rev(on_master, "master")


def test_a_repository_without_a_commit_says_so(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    pygit2.init_repository(str(root), initial_head="main")
    write(root, "principals.yaml", "kind: Principals\n")
    result = mc("reconcile", "-C", str(root))
    assert result.exit_code == 2
    assert "has no commit yet: commit your manifests first" in result.stderr


def test_the_service_refuses_a_missing_branch_at_once(on_master: Path) -> None:
    proc = subprocess.run(
        [MC, "reconciler", "run", "-C", str(on_master)],
        check=False,
        capture_output=True,
        text=True,
        env=env(),
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--branch master" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_commands_find_the_repository_from_a_subdirectory(repo: Path) -> None:
    assert mc("reconcile", "-C", str(repo)).exit_code == 0
    sub = repo / "missions" / "m" / "tasks"
    tasks = json.loads(mc("get", "tasks", "-C", str(sub), "-o", "json").stdout)
    assert [(t["metadata"]["name"], t["status"]["phase"]) for t in tasks] == [("hello", "Queued")]
    validated = mc("validate", "-C", str(sub))
    assert validated.exit_code == 0, validated.output
    assert "5 manifests checked" in validated.stderr
    assert mc("describe", "task", "hello", "-C", str(sub)).exit_code == 0
    assert mc("claim", "--agent", "worker", "-C", str(sub)).exit_code == 0


def test_get_tasks_says_when_no_status_exists_yet(repo: Path) -> None:
    result = mc("get", "tasks", "-C", str(repo))
    assert result.exit_code == 0
    assert "no status yet" in result.stderr
    mc("reconcile", "-C", str(repo))
    assert "no status yet" not in mc("get", "tasks", "-C", str(repo)).stderr


def test_describe_shows_a_task_whose_manifest_stopped_validating(repo: Path) -> None:
    mc("reconcile", "-C", str(repo))
    path = repo / "missions/m/tasks/hello.yaml"
    path.write_text(path.read_text().replace("title: Say hello", "title: [unclosed"))
    git(repo, "commit", "-qam", "break hello")
    mc("reconcile", "-C", str(repo))
    shown = mc("describe", "task", "m/hello", "-C", str(repo))
    assert shown.exit_code == 0, shown.output
    assert "invalid" in shown.stdout
    assert "flow sequence opened here" in shown.stdout
    assert "ManifestValid" in shown.stdout
    data = json.loads(mc("describe", "task", "hello", "-C", str(repo), "-o", "json").stdout)
    assert data["status"]["valid"] is False
    assert data["status"]["phase"] == "Queued"
    assert any(c["type"] == "ManifestValid" and c["status"] is False for c in data["status"]["conditions"])


def test_a_dependency_cycle_on_main_is_named_on_its_tasks(repo: Path) -> None:
    for name, need in (("a", "b"), ("b", "a")):
        write(
            repo,
            f"missions/m/tasks/{name}.yaml",
            f"""\
            apiVersion: missioncontrol.dev/v1
            kind: Task
            metadata: {{name: {name}}}
            spec: {{title: {name}, kluster: main, agent: {{name: worker}}, needs: [{need}]}}
            """,
        )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a cycle")
    mc("reconcile", "-C", str(repo))
    data = json.loads(mc("describe", "task", "m/a", "-C", str(repo), "-o", "json").stdout)
    ready = next(c for c in data["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == (False, "DependencyCycle")
    assert "a -> b -> a" in ready["message"]


def test_init_commits_a_second_mission_too(repo: Path) -> None:
    before = rev(repo, "HEAD")
    result = json.loads(mc("init", str(repo), "--mission", "second", "-o", "json").stdout)
    assert "missions/second/mission.yaml" in result["created"]
    assert result["commit"] is not None
    assert rev(repo, "HEAD") == result["commit"]
    assert rev(repo, "HEAD~1") == before
    assert git(repo, "status", "--porcelain") == ""


def test_each_short_flag_has_one_meaning_across_commands() -> None:
    from typer.main import get_command

    meanings: dict[str, set[str]] = {}

    def walk(command: object) -> None:
        for param in getattr(command, "params", []):
            for opt in [*param.opts, *param.secondary_opts]:
                if len(opt) == 2 and opt.startswith("-"):
                    meanings.setdefault(opt, set()).add(param.name)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(get_command(app))
    assert meanings["-m"] == {"mission"}
    assert {k: v for k, v in meanings.items() if len(v) > 1} == {}
