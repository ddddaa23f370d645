"""The loan-approval offer is sent by a side effect that runs only after the gate, exactly once.

Approvals arrive with the governance issue; here the copy of the mission has no gate on
draft-offer, which stands in for "approved". The post office is armed to kill the sender right
after it accepts the letter (the double-send incident: the effect happened, its record did not),
and two mesh nodes run the chain: the crashed agent is restarted on the same lease, finds nothing
in the ledger, posts again with the same idempotency key, and the post office absorbs it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from reconciler.gitstate.status_files import status_path
from tests.conftest import EXAMPLES, MC, env, git
from tests.running import Running, phase, wait_for

MC_MESH = str(Path(MC).parent / "mc-mesh")
TASKS = "missions/loan-approval/tasks"


def test_the_letter_of_the_approved_result_is_sent_exactly_once_across_a_crash(tmp_path: Path) -> None:
    repo = tmp_path / "loans"
    shutil.copytree(EXAMPLES / "loan-approval", repo)
    draft = repo / TASKS / "draft-offer.yaml"
    draft.write_text(draft.read_text().split("  approval:\n")[0])  # stands in for the approval
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Declare the mission")
    post = tmp_path / "post-office"
    post.mkdir()
    (post / "fail-after-send").touch()

    service = Running(repo)
    logs = [tmp_path / f"{n}.log" for n in ("n1", "n2")]
    nodes = [
        subprocess.Popen(
            [MC_MESH, "run", "--node", log.stem, "--log-format", "json", "-C", str(repo)],
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            env=env(LOAN_POST_OFFICE=str(post)),
        )
        for log in logs
    ]
    try:
        sent = wait_for(lambda: phase(repo, "loan-approval/send-offer") == "Succeeded", timeout=120)
        assert sent, [log.read_text()[-2000:] for log in logs]
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=30)
        service.stop()

    assert not (post / "fail-after-send").exists()  # the fault fired: the sender died after posting
    events = [json.loads(line) for log in logs for line in log.read_text().splitlines() if line.startswith("{")]
    restarts = [e for e in events if e["event"] == "run.restarted"]
    assert [e["task"] for e in restarts] == ["loan-approval/send-offer"]

    messages = [json.loads(line) for line in (post / "messages.jsonl").read_text().splitlines()]
    assert len(messages) == 1, messages  # posted once, though the agent called the post office twice
    draft_status = json.loads(git(repo, "show", "refs/mc/status:" + status_path("loan-approval/draft-offer")))
    approved = draft_status["result_commit"]
    assert messages[0]["body"] == git(repo, "show", f"{approved}:work/offers/app-001.txt")
    assert messages[0]["key"] == "loan-approval/send-offer:letter"

    send = json.loads(git(repo, "show", "refs/mc/status:" + status_path("loan-approval/send-offer")))
    assert (send["attempts"], send["generation"]) == (1, 1)  # the same attempt, restarted in place
    assert send["outputs"]["messageId"] == messages[0]["id"]
    assert send["outputs"]["letterCommit"] == approved
    ledger = json.loads(git(repo, "show", "refs/mc/effects/loan-approval/send-offer:effects.json"))
    assert list(ledger) == ["loan-approval/send-offer:letter"]
    assert ledger["loan-approval/send-offer:letter"]["result"]["messageId"] == messages[0]["id"]
    assert git(repo, "show", "refs/heads/mc/work/loan-approval/send-offer:work/sent/app-001.json")
