"""A stuck ref lock stalls one thing, not everything: a locked lease ref holds only its task; a
locked status ref is reported once and retried without spinning (a killed git leaves locks)."""

from __future__ import annotations

import time
from pathlib import Path

from reconciler.gitstate.refs import lease_ref
from tests.conftest import TASK, claim, git, write
from tests.running import Running, phase, wait_for


def declare(repo: Path, name: str) -> None:
    write(repo, f"missions/m/tasks/{name}.yaml", TASK.format(name=name, needs="[]"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"declare {name}")


def test_a_locked_lease_ref_holds_only_its_task(repo: Path) -> None:
    service = Running(repo)
    try:
        assert wait_for(lambda: phase(repo, "m/hello") == "Queued")
        claim(repo, "--ttl", "2")
        assert wait_for(lambda: phase(repo, "m/hello") == "Leased")
        lock = repo / ".git" / (lease_ref("m/hello") + ".lock")
        lock.write_text("")  # as a git killed mid-update leaves it: fresh, so it may be live
        started = time.monotonic()
        declare(repo, "fresh")
        assert wait_for(lambda: phase(repo, "m/fresh") == "Queued", timeout=10)
        assert time.monotonic() - started < 10  # not after the 30 s it takes to call a lock stale
        time.sleep(2.5)  # hello's lease runs out while its ref is locked: it is held, not expired
        assert phase(repo, "m/hello") == "Leased"
        assert wait_for(lambda: any(e["event"] == "held" for e in service.logs()))
        lock.unlink()
        assert wait_for(lambda: phase(repo, "m/hello") == "Queued", timeout=10)  # expired, next attempt
        assert service.alive()
    finally:
        service.stop()


def test_a_locked_status_ref_is_reported_once_and_retried_without_spinning(repo: Path) -> None:
    service = Running(repo)
    try:
        assert wait_for(lambda: phase(repo, "m/hello") == "Queued")
        lock = repo / ".git/refs/mc/status.lock"
        lock.write_text("")
        declare(repo, "fresh")
        assert wait_for(lambda: bool(service.events("status.locked")), timeout=10)
        cpu = service.cpu_seconds()
        time.sleep(4)
        assert service.cpu_seconds() - cpu < 1.0  # retried every couple of seconds, not in a loop
        assert len(service.events("status.locked")) == 1
        assert phase(repo, "m/fresh") is None
        lock.unlink()
        assert wait_for(lambda: phase(repo, "m/fresh") == "Queued", timeout=10)
        assert service.alive()
    finally:
        service.stop()
