"""`example-missions/run_mesh.py`, the demo's engine: each example runs on a reconciler and two
mesh nodes (real processes) until it waits at its approval gate, then a closing table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, MC, env

BIN = str(Path(MC).parent)


@pytest.mark.parametrize(
    ("example", "gate", "ran"),
    [
        ("loan-approval", "draft-offer", ["parse-documents", "check-eligibility", "score-risk", "human-review"]),
        ("code-swarm", "publish", ["define-interface", "implement-wallet", "implement-card-provider", "review"]),
    ],
)
def test_an_example_runs_on_two_nodes_up_to_its_gate(example: str, gate: str, ran: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_mesh.py"), str(EXAMPLES / example), "--timeout", "120"],
        capture_output=True,
        text=True,
        env=env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"),
        check=False,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{example}/{gate} waits at its approval gate" in proc.stdout
    table = proc.stdout.split("closing table")[1]
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 2}
    assert "AwaitingApproval" in rows[gate]
    for task in ran:
        assert "Succeeded" in rows[task], rows[task]
        assert "node-" in rows[task]
    if example == "loan-approval":
        assert "Pending" in rows["send-offer"]
        assert "letters the post office has sent: 0" in proc.stdout
