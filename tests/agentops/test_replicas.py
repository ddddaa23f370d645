"""Replicas hold under concurrency: N concurrent claims by one agent never take more than its
`replicas` tasks (they took 10 of 10 when the limit was checked against the last pass)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import MC, TASK, env, git, mc, write

CLAIMERS = 10


def with_tasks(repo: Path, replicas: int) -> Path:
    agent = repo / "missions/m/agents/worker.yaml"
    agent.write_text(agent.read_text() + f"  replicas: {replicas}\n")
    for i in range(CLAIMERS):
        write(repo, f"missions/m/tasks/t{i}.yaml", TASK.format(name=f"t{i}", needs="[]"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "ten tasks")
    assert mc("reconcile", "-C", str(repo)).exit_code == 0
    return repo


def race(repo: Path) -> list[tuple[int, str, str]]:
    procs = [
        subprocess.Popen(
            [MC, "claim", "--agent", "worker", "-o", "json", "-C", str(repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for _ in range(CLAIMERS)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


@pytest.mark.parametrize("replicas", [1, 3])
def test_concurrent_claims_never_exceed_replicas(repo: Path, replicas: int) -> None:
    results = race(with_tasks(repo, replicas))
    won = [json.loads(out) for code, out, _ in results if code == 0]
    assert len(won) == replicas, results
    assert len({w["task"] for w in won}) == replicas
    for code, _, err in results:
        if code != 0:
            assert code == 3, err
            assert "Traceback" not in err
    # a slot given back is a slot free: the next claim succeeds, and one more does not
    first = won[0]
    released = mc("release", first["task"], "-g", "1", "--lease-token", first["leaseToken"], "-C", str(repo))
    assert released.exit_code == 0, released.output
    assert mc("claim", "--agent", "worker", "-C", str(repo)).exit_code == 0
    refused = mc("claim", "--agent", "worker", "-C", str(repo))
    assert refused.exit_code == 3
    assert f"(replicas: {replicas})" in refused.stderr


def test_a_lease_that_looks_expired_still_holds_its_slot_until_the_reconciler_ends_it(repo: Path) -> None:
    """Its holder's renewal may still land: only the chain's record of the end frees the slot."""
    with_tasks(repo, 1)
    first = mc("claim", "--agent", "worker", "--ttl", "1", "-C", str(repo), "-o", "json")
    assert first.exit_code == 0
    time.sleep(1.5)
    held = mc("claim", "--agent", "worker", "-C", str(repo))
    assert held.exit_code == 3
    assert "already holds 1 task(s)" in held.stderr
    assert mc("reconcile", "-C", str(repo)).exit_code == 0  # expires it: the chain records the end
    assert mc("claim", "--agent", "worker", "-C", str(repo)).exit_code == 0


def test_a_damaged_holdings_ref_is_rebuilt_from_the_leases_not_emptied(repo: Path) -> None:
    with_tasks(repo, 1)
    won = json.loads(mc("claim", "--agent", "worker", "-C", str(repo), "-o", "json").stdout)
    (repo / "garbage.txt").write_text("garbage")
    blob = git(repo, "hash-object", "-w", "garbage.txt").strip()
    git(repo, "update-ref", f"refs/mc/agents/{won['agent']}", blob)
    refused = mc("claim", "--agent", "worker", "-C", str(repo))
    assert refused.exit_code == 3
    assert f"already holds 1 task(s) (replicas: 1): {won['task']}" in refused.stderr
