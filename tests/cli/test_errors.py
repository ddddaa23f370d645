"""Expected failures through `mc`: one line (and JSON with `-o json`), the right exit code, no
traceback, and nothing changed. Each case is a rough edge a new user hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import Result

from reconciler.gitstate.refs import lease_ref
from tests.conftest import claim, git, mc, rev


def one_line_error(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("task", ["my-mission/", "m/has space", "m/..", "m/x.lock", "m/hello/", "/hello", "m/a/b"])
@pytest.mark.parametrize("command", [["heartbeat"], ["complete"], ["checkpoint", "--message", "x"], ["release"]])
def test_bad_task_names_are_usage_errors(queued: Path, task: str, command: list[str]) -> None:
    tips = (rev(queued, "refs/mc/status"), rev(queued, lease_ref("m/hello")))
    result = mc(command[0], task, *command[1:], "-g", "1", "-C", str(queued))
    one_line_error(result, 2)
    assert (rev(queued, "refs/mc/status"), rev(queued, lease_ref("m/hello"))) == tips


@pytest.mark.parametrize("ttl", ["1e12", "inf", "1e308", "nan", "0", "-5"])
def test_absurd_ttls_are_usage_errors(queued: Path, ttl: str) -> None:
    one_line_error(mc("claim", "--agent", "worker", "--ttl", ttl, "-C", str(queued)), 2, "--ttl")
    assert rev(queued, lease_ref("m/hello")) is None


def test_worktree_that_is_missing_a_file_or_not_a_checkout_is_refused(queued: Path, tmp_path: Path) -> None:
    claim(queued)
    tips = (rev(queued, lease_ref("m/hello")), rev(queued, "refs/heads/mc/work/m/hello"))
    plain = tmp_path / "plain"
    plain.mkdir()
    (tmp_path / "file").write_text("x")
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"answer": 42}')
    other = tmp_path / "other-branch"
    git(queued, "worktree", "add", "-q", "-b", "elsewhere", str(other))
    cases = {
        tmp_path / "nonexistent": "does not exist",
        tmp_path / "file": "is not a directory",
        plain: "is not a Git work tree",
        other: "not on the task's work branch mc/work/m/hello",
    }
    for where, why in cases.items():
        for args in (["checkpoint", "m/hello", "--message", "x"], ["complete", "m/hello", "--outputs", str(outputs)]):
            result = mc(*args, "-g", "1", "--worktree", str(where), "-C", str(queued))
            one_line_error(result, 2, why, "git worktree add" if "work tree" in why else "")
    assert (rev(queued, lease_ref("m/hello")), rev(queued, "refs/heads/mc/work/m/hello")) == tips


def test_unknown_agent_and_mission_are_usage_errors_with_a_suggestion(queued: Path) -> None:
    one_line_error(mc("claim", "--agent", "ghost", "-C", str(queued)), 2, "unknown agent 'ghost'")
    one_line_error(mc("claim", "--agent", "workr", "-C", str(queued)), 2, "did you mean 'worker'?")
    one_line_error(mc("claim", "--agent", "worker", "-m", "nosuchmission", "-C", str(queued)), 2, "unknown mission")
    one_line_error(mc("claim", "--agent", "worker", "-m", "mm", "-C", str(queued)), 2, "did you mean 'm'?")
    assert rev(queued, lease_ref("m/hello")) is None


def test_reports_on_unknown_or_unclaimed_tasks_say_which(queued: Path) -> None:
    for task, why in (("m/nosuchtask", "unknown task m/nosuchtask"), ("m/hello", "has no lease: claim it first")):
        one_line_error(mc("complete", task, "-g", "1", "--lease-token", "t", "-C", str(queued)), 2, why)


def test_json_errors_on_stdout_for_agents(queued: Path) -> None:
    result = mc("claim", "--agent", "ghost", "-C", str(queued), "-o", "json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "not_found"
    assert "unknown agent" in error["message"]
    assert error["details"] == {"agent": "ghost"}
    claim(queued)
    nothing = mc("claim", "--agent", "worker", "-C", str(queued), "-o", "json")
    assert nothing.exit_code == 3
    assert json.loads(nothing.stdout)["error"]["code"] == "nothing_to_claim"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["heartbeat", "m/hello", "-o", "json"], "Missing option '--generation'"),
        (["claim", "--agent", "worker", "--ttl", "soon", "-o", "json"], "--ttl"),
        (["frobnicate", "-o", "json"], "No such command"),
        (["checkpoint", "m/hello", "-g", "1", "-m", "msg", "-o", "json"], "Missing option '--message'"),
    ],
)
def test_parser_errors_are_one_line_and_json_too(queued: Path, args: list[str], words: str) -> None:
    result = mc(*args, "-C", str(queued))
    one_line_error(result, 2, words, "--help")
    assert json.loads(result.stdout)["error"]["code"] == "usage"


def test_missing_directories_are_named(tmp_path: Path) -> None:
    ghost = str(tmp_path / "does-not-exist")
    for args in (["get", "leases"], ["get", "tasks"], ["claim", "--agent", "a"], ["reconcile"], ["validate"]):
        one_line_error(mc(*args, "-C", ghost), 2, f"{ghost} does not exist")


def test_a_directory_outside_git_suggests_mc_init(tmp_path: Path) -> None:
    one_line_error(mc("claim", "--agent", "a", "-C", str(tmp_path)), 2, "not in a Git repository", "mc init")
