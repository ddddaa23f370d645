"""`mc reconciler run`: wakes on commits and on deadlines, one leader at a time, stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.gitstate.refs import lease_ref
from tests.conftest import MC, TASK, git, write
from tests.running import phase, wait_for


def start(repo: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MC, "reconciler", "run", "--log-format", "json", "-C", str(repo), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def logs(proc: subprocess.Popen[str]) -> list[dict[str, object]]:
    assert proc.stderr is not None
    return [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]


@pytest.fixture
def service(repo: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def run(*extra: str) -> subprocess.Popen[str]:
        proc = start(repo, *extra)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_wakes_on_commit_and_stops_on_sigterm(repo: Path, service: Callable[..., subprocess.Popen[str]]) -> None:
    proc = service()
    assert wait_for(lambda: phase(repo, "m/hello") == "Queued")
    write(repo, "missions/m/tasks/later.yaml", TASK.format(name="later", needs="[]"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add later")
    assert wait_for(lambda: phase(repo, "m/later") is not None, timeout=5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    events = [e["event"] for e in logs(proc)]
    assert events[0] == "start"
    assert "leader.acquired" in events
    assert "pass" in events
    assert events[-2:] == ["leader.resigned", "stop"]
    lease = json.loads(git(repo, "show", "refs/mc/system/leader:lease.json"))
    assert lease["state"] == "released"


def test_second_instance_waits_then_takes_over(repo: Path, service: Callable[..., subprocess.Popen[str]]) -> None:
    first = service("--leader-ttl", "2")
    assert wait_for(lambda: phase(repo, "m/hello") == "Queued")
    second = service("--leader-ttl", "2")
    time.sleep(1.0)
    first.send_signal(signal.SIGKILL)
    first.wait()
    write(repo, "missions/m/tasks/after.yaml", TASK.format(name="after", needs="[]"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add after")
    assert wait_for(lambda: phase(repo, "m/after") == "Queued", timeout=20)
    second.send_signal(signal.SIGINT)
    assert second.wait(timeout=10) == 0
    second_events = logs(second)
    acquired = [e for e in second_events if e["event"] == "leader.acquired"]
    assert len(acquired) == 1
    assert acquired[0]["generation"] == 2
    leader_log = git(repo, "log", "--format=%s", "refs/mc/system/leader")
    assert "takes generation 2" in leader_log


def test_lease_expiry_is_noticed_without_any_commit(repo: Path, service: Callable[..., subprocess.Popen[str]]) -> None:
    path = repo / "missions/m/tasks/hello.yaml"
    path.write_text(path.read_text() + "  retries:\n    maxAttempts: 2\n    backoff: {initialSeconds: 0}\n")
    git(repo, "commit", "-qam", "fast retry")
    proc = service()
    assert wait_for(lambda: phase(repo, "m/hello") == "Queued")
    claim = subprocess.run(
        [MC, "claim", "--agent", "worker", "--ttl", "1", "-C", str(repo), "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(claim.stdout)["generation"] == 1
    assert wait_for(lambda: phase(repo, "m/hello") == "Leased", timeout=5)
    assert wait_for(lambda: "Expired" in git(repo, "log", "--format=%B", "refs/mc/status"), timeout=10)
    assert wait_for(lambda: phase(repo, "m/hello") == "Queued", timeout=5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    lease_log = git(repo, "log", "--format=%s", lease_ref("m/hello"))
    assert "expired generation 1" in lease_log
