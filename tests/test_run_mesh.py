"""`example-missions/run_mesh.py`, the demo's engine: each example runs on a reconciler and two
mesh nodes (real processes) until it waits at its approval gate; loan-approval then passes it
with an approval signed by a key generated for alice, and its letter is sent once. Each daemon
signs with a key of its own, declared as a node or reconciler principal: `mc audit verify`
finds every custody commit signed by whom it should be."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, MC, env

BIN = str(Path(MC).parent)


def run_mesh(example: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "run_mesh.py"), str(EXAMPLES / example), "--timeout", "120", *extra],
        capture_output=True,
        text=True,
        env=env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"),
        check=False,
        timeout=180,
    )


def rows_of(stdout: str) -> dict[str, str]:
    table = stdout.split("closing table")[1]
    return {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 2}


def assert_audited(stdout: str) -> None:
    audited = stdout.split("$ mc audit verify")[1]
    assert "the record holds: 0 inconsistencies" in audited
    assert "warning" not in audited


def test_code_swarm_runs_on_two_nodes_up_to_its_gate() -> None:
    proc = run_mesh("code-swarm")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_audited(proc.stdout)
    assert "code-swarm/publish waits at its approval gate" in proc.stdout
    rows = rows_of(proc.stdout)
    assert "AwaitingApproval" in rows["publish"]
    for task in (
        "define-interface",
        "implement-wallet",
        "implement-card-provider",
        "implement-bank-transfer",
        "review",
    ):
        assert "Succeeded" in rows[task], rows[task]
        assert "node-" in rows[task]


def test_loan_approval_passes_its_gate_with_a_signed_approval_and_sends_the_letter_once() -> None:
    proc = run_mesh("loan-approval", "--approve", "alice")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_audited(proc.stdout)
    assert "letters the post office has sent: 0 (send-offer runs only after the approval)" in proc.stdout
    assert "by alice (SHA256:" in proc.stdout
    assert ": counts" in proc.stdout
    assert "letters the post office has sent: 1 (sent after the approval, exactly once)" in proc.stdout
    rows = rows_of(proc.stdout)
    for task in ("parse-documents", "check-eligibility", "score-risk", "human-review", "draft-offer", "send-offer"):
        assert "Succeeded" in rows[task], rows[task]
