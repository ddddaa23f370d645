"""`mc usage`: spend reported by the holder, summed per attempt and per task, an agent's per-run
budget that fails the attempt, and a mission's spend cap that stops new work but not running work."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.gitstate.refs import lease_ref
from tests.conftest import claim, git, mc, reconcile, status, write


def _append(repo: Path, rel: str, text: str, message: str) -> None:
    path = repo / rel
    path.write_text(path.read_text() + text)
    git(repo, "commit", "-qam", message)


def test_spend_adds_up_and_reaches_the_status_and_the_result(queued: Path, tmp_path: Path) -> None:
    claim(queued)
    first = mc("usage", "m/hello", "-g", "1", "--tokens", "1200", "--cost", "0.012", "-C", str(queued), "-o", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["spend"] == {"tokens": 1200, "cost_usd": 0.012}
    second = mc("usage", "m/hello", "-g", "1", "--tokens", "800", "--cost", "0.008", "-C", str(queued))
    assert second.exit_code == 0, second.output
    assert "has spent 2,000 tokens, $0.0200" in second.stdout
    renewals = git(queued, "rev-list", "--count", lease_ref("m/hello"))
    assert renewals.strip() == "2"  # the grant and one renewal: a report of spend replaces the previous one
    outputs = tmp_path / "out.json"
    outputs.write_text('{"answer": 42}')
    assert mc("complete", "m/hello", "-g", "1", "--outputs", str(outputs), "-C", str(queued)).exit_code == 0
    reconcile(queued)
    assert status(queued)["spend"] == {"tokens": 2000, "cost_usd": 0.02}
    body = git(queued, "log", "-1", "--format=%B", "refs/heads/mc/work/m/hello")
    assert "MC-Spend: tokens=2000 cost_usd=0.020000" in body


def test_usage_is_refused_to_anyone_but_the_holder(queued: Path) -> None:
    claim(queued)
    wrong = mc("usage", "m/hello", "-g", "1", "--tokens", "5", "--lease-token", "guess", "-C", str(queued))
    assert wrong.exit_code == 1
    assert "lease token" in wrong.stderr
    assert json.loads(git(queued, "show", lease_ref("m/hello") + ":lease.json"))["spend"]["tokens"] == 0
    bad = mc("usage", "m/hello", "-g", "1", "--cost", "nan", "-C", str(queued), "-o", "json")
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["error"]["code"] == "usage"


def test_going_over_the_agent_budget_fails_the_attempt_and_keeps_the_spend(repo: Path) -> None:
    _append(repo, "missions/m/agents/worker.yaml", "    tokens: 1000\n    costUsd: 0.5\n", "budget")
    reconcile(repo)
    lease = claim(repo)
    ok = mc("usage", "m/hello", "-g", "1", "--tokens", "900", "-C", str(repo), "-o", "json")
    assert json.loads(ok.stdout)["budget"] == {"tokens": 1000, "cost_usd": 0.5}
    over = mc("usage", "m/hello", "-g", "1", "--tokens", "200", "-C", str(repo), "-o", "json")
    assert over.exit_code == 4
    error = json.loads(over.stdout)["error"]
    assert error["code"] == "over_budget"
    assert "1,100 tokens > 1,000" in error["message"]
    assert error["details"]["spend"] == {"tokens": 1100, "cost_usd": 0.0}
    after = mc("heartbeat", "m/hello", "-g", "1", "-C", str(repo))
    assert after.exit_code == 1  # the attempt is over: no more reports on it
    assert reconcile(repo)[-1].startswith("m/hello: Running -> Queued (attempt 1 failed: over budget: 1,100 tokens")
    st = status(repo)
    assert st["spend"] == {"tokens": 1100, "cost_usd": 0.0}
    assert lease["generation"] == 1


def test_a_mission_spend_cap_stops_new_work_and_lets_running_work_finish(repo: Path, tmp_path: Path) -> None:
    _append(repo, "missions/m/mission.yaml", "  budget:\n    costUsd: 1.0\n", "cap")
    _append(repo, "missions/m/agents/worker.yaml", "  replicas: 2\n", "two at once")
    other = (repo / "missions/m/tasks/hello.yaml").read_text().replace("name: hello", "name: other")
    write(repo, "missions/m/tasks/other.yaml", other.replace('paths: ["notes/m/**"]', 'paths: ["other/**"]'))
    third = other.replace("name: other", "name: third").replace('paths: ["notes/m/**"]', 'paths: ["third/**"]')
    write(repo, "missions/m/tasks/third.yaml", third)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more tasks")
    reconcile(repo)
    first, second = claim(repo), claim(repo)
    running = {str(first["task"]), str(second["task"])}
    spender = sorted(running)[0]
    assert mc("usage", spender, "-g", "1", "--cost", "1.0", "-C", str(repo)).exit_code == 0
    reconcile(repo)
    waiting = ({"m/hello", "m/other", "m/third"} - running).pop()
    held = status(repo, waiting)
    assert held["phase"] == "Pending"  # sent back from Queued: nothing new is dispatched
    conditions: list[dict[str, object]] = held["conditions"]  # type: ignore[assignment]
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == (False, "SpendCapReached")
    assert "mission m has used its spend cap ($1.0000 of $1.0000)" in str(ready["message"])
    assert mc("claim", "--agent", "worker", "-C", str(repo)).exit_code == 3
    outputs = tmp_path / "out.json"
    outputs.write_text("{}")
    for key in sorted(running):  # the running ones finish
        assert mc("complete", key, "-g", "1", "--outputs", str(outputs), "-C", str(repo)).exit_code == 0
    reconcile(repo)
    assert {status(repo, k)["phase"] for k in running} == {"Succeeded"}
    assert status(repo, waiting)["phase"] == "Pending"
    (repo / "missions/m/mission.yaml").write_text(
        (repo / "missions/m/mission.yaml").read_text().replace("costUsd: 1.0", "costUsd: 2.0")
    )
    git(repo, "commit", "-qam", "raise the cap")
    reconcile(repo)
    assert status(repo, waiting)["phase"] == "Queued"
