"""`mc init` makes a valid repository idempotently; `mc get` and `mc describe` read it."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
import yaml

from tests.conftest import mc, write


def test_init_creates_commits_and_validates(tmp_path: Path) -> None:
    root = tmp_path / "new"
    result = mc("init", str(root), "--mission", "alpha", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["gitInitialised"] is True
    assert data["commit"]
    assert ".gitignore" in data["created"]
    assert ".mc/" in (root / ".gitignore").read_text().splitlines()
    repo = pygit2.Repository(str(root))
    assert repo.head.shorthand == "main"
    assert mc("validate", str(root)).exit_code == 0
    assert mc("validate", str(root), "--rev", "HEAD").exit_code == 0


def test_init_is_idempotent_and_keeps_edits(tmp_path: Path) -> None:
    root = tmp_path / "r"
    mc("init", str(root))
    (root / "principals.yaml").write_text((root / "principals.yaml").read_text() + "# mine\n")
    (root / ".gitignore").write_text("node_modules/\n")
    again = json.loads(mc("init", str(root), "-o", "json").stdout)
    assert again["created"] == [".gitignore"]
    assert again["commit"] is None
    assert (root / "principals.yaml").read_text().endswith("# mine\n")
    assert (root / ".gitignore").read_text() == "node_modules/\n.mc/\n"
    assert json.loads(mc("init", str(root), "-o", "json").stdout)["created"] == []


def test_init_refuses_bad_names(tmp_path: Path) -> None:
    result = mc("init", str(tmp_path / "x"), "--mission", "Bad Name")
    assert result.exit_code == 2
    assert "DNS label" in result.stderr


def test_get_tasks_json_and_table(repo: Path) -> None:
    result = mc("get", "tasks", "-C", str(repo), "-o", "json")
    assert result.exit_code == 0, result.output
    [task] = json.loads(result.stdout)
    assert task["kind"] == "Task"
    assert task["metadata"]["name"] == "hello"
    assert task["status"]["mission"] == "m"
    assert task["status"]["agents"] == [
        json.loads(mc("get", "agents", "-C", str(repo), "-o", "json").stdout)[0]["status"]["agentId"]
    ]
    table = mc("get", "tasks", "-C", str(repo))
    assert "hello" in table.stdout
    assert "Say hello" in table.stdout


def test_get_yaml_and_missions(repo: Path) -> None:
    docs = yaml.safe_load(mc("get", "missions", "-C", str(repo), "-o", "yaml").stdout)
    assert [d["metadata"]["name"] for d in docs] == ["m"]
    assert "m" in mc("get", "missions", "-C", str(repo)).stdout


def test_agent_ids_are_stable(repo: Path) -> None:
    first = json.loads(mc("get", "agents", "-C", str(repo), "-o", "json").stdout)[0]["status"]["agentId"]
    assert first.startswith("worker-")
    assert len(first) == len("worker-") + 8
    assert first == json.loads(mc("get", "agents", "-C", str(repo), "-o", "json").stdout)[0]["status"]["agentId"]


def test_describe_task(repo: Path) -> None:
    result = mc("describe", "task", "hello", "-C", str(repo))
    assert result.exit_code == 0, result.output
    assert "Say hello" in result.stdout
    assert "worker-" in result.stdout
    doc = json.loads(mc("describe", "task", "m/hello", "-C", str(repo), "-o", "json").stdout)
    assert doc["spec"]["title"] == "Say hello"


def test_describe_errors_are_clear(repo: Path) -> None:
    result = mc("describe", "task", "nope", "-C", str(repo))
    assert result.exit_code == 2
    assert "no Task named 'nope'" in result.stderr
    assert mc("get", "widgets", "-C", str(repo)).exit_code == 2
    assert "no mission 'zz'" in mc("get", "tasks", "-m", "zz", "-C", str(repo)).stderr


def test_describe_ambiguous_name_lists_candidates(repo: Path) -> None:
    mc("init", str(repo), "--mission", "n")
    result = mc("describe", "task", "hello", "-C", str(repo))
    assert result.exit_code == 2
    assert "m/hello, n/hello" in result.stderr


def test_get_warns_about_broken_manifests(repo: Path) -> None:
    write(repo, "missions/m/tasks/bad.yaml", "kind: Task\n")
    result = mc("get", "tasks", "-C", str(repo))
    assert result.exit_code == 0
    assert "have errors" in result.stderr
