"""`mc task create` (the overlap check first, then one commit of one new file) and
`mc validate --base` on a change that adds tasks (only the later of two is reported)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import git, mc


def create(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = mc("task", "create", "-m", "m", "-C", str(repo), "-o", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_create_checks_then_commits_only_the_new_task(repo: Path) -> None:
    (repo / "scratch.txt").write_text("not mine to commit\n")
    git(repo, "add", "scratch.txt")
    code, data = create(repo, "--title", "Retry failed payment requests", "--paths", "src/pay/**")
    assert code == 0, data
    assert data["created"] is True
    assert data["task"] == "m/retry-failed-payment-requests"
    assert data["matches"] == []
    changed = git(repo, "show", "--name-only", "--format=%s", data["commit"]).split()
    assert changed[-1] == "missions/m/tasks/retry-failed-payment-requests.yaml"
    assert "scratch.txt" not in changed
    assert git(repo, "status", "--porcelain").splitlines() == ["A  scratch.txt"]
    assert mc("validate", str(repo)).exit_code == 0

    code, data = create(repo, "--title", "Retry the failed payment requests", "--name", "again")
    assert code == 0
    assert data["matches"][0]["task"] == "m/retry-failed-payment-requests"
    assert data["matches"][0]["level"] == "strong"

    code, data = create(repo, "--title", "Retry failed payment requests, please", "--on-overlap", "fail")
    assert code == 1
    assert data["error"]["code"] == "overlap"
    assert data["error"]["details"]["matches"][0]["level"] == "strong"
    assert not (repo / "missions/m/tasks/retry-failed-payment-requests-please.yaml").exists()


def test_the_mission_can_ask_for_acknowledgement_or_refuse(repo: Path) -> None:
    assert create(repo, "--title", "Rotate the signing keys every month")[0] == 0
    mission = repo / "missions/m/mission.yaml"
    mission.write_text(mission.read_text() + "  overlap: {onStrong: acknowledge}\n")
    git(repo, "commit", "-qam", "acknowledge strong overlaps")
    code, data = create(repo, "--title", "Rotate the signing keys monthly", "--on-overlap", "ignore")
    assert code == 1
    assert "acknowledge" in data["error"]["message"]
    code, data = create(
        repo, "--title", "Rotate the signing keys monthly", "--acknowledge", "m/rotate-the-signing-keys-every-month"
    )
    assert code == 0, data
    mission.write_text(mission.read_text().replace("onStrong: acknowledge", "onStrong: refuse"))
    git(repo, "commit", "-qam", "refuse strong overlaps")
    code, data = create(repo, "--title", "Rotate signing keys each month", "--on-overlap", "ignore")
    assert code == 1
    assert "refuses" in data["error"]["message"]


def test_bad_requests_change_nothing(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    for args, words in (
        (["--title", "x", "--kluster", "nope"], "no kluster 'nope'"),
        (["--title", "x", "--needs", "ghost"], "--needs 'ghost'"),
        (["--title", "x", "--name", "Bad_Name"], "Bad_Name"),
        (["--title", "x", "--name", "hello"], "exists already"),
    ):
        code, data = create(repo, *args)
        assert code == 2, data
        assert words in data["error"]["message"]
    assert git(repo, "rev-parse", "HEAD") == head


def test_validate_base_reports_only_the_later_of_two_added_tasks(repo: Path) -> None:
    assert create(repo, "--title", "Retry failed payment requests")[0] == 0
    git(repo, "branch", "base")
    git(repo, "checkout", "-qb", "change")
    assert create(repo, "--title", "Rotate the signing keys every month")[0] == 0
    assert create(repo, "--title", "Rotate the signing keys monthly")[0] == 0
    assert create(repo, "--title", "Retry the failed payment requests", "--name", "retry-again")[0] == 0
    result = mc("validate", str(repo), "--base", "base", "-o", "json")
    assert result.exit_code == 0, result.output
    overlaps = [f for f in json.loads(result.stdout) if f["rule"] == "overlap"]
    reported = sorted((Path(f["file"]).name, f["message"].split()[2]) for f in overlaps)
    assert reported == [
        ("retry-again.yaml", "m/retry-failed-payment-requests"),
        ("rotate-the-signing-keys-monthly.yaml", "m/rotate-the-signing-keys-every-month"),
    ]
    assert all(f["severity"] == "warning" and f["field"] == "spec.title" for f in overlaps)
    github = mc("validate", str(repo), "--base", "base", "-o", "github")
    assert "::warning file=" in github.stdout
    assert "title=mc validate%3A overlap" in github.stdout
