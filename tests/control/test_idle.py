"""An idle service is idle: it writes only its leader renewal, once per interval, and uses next
to no CPU (it wrote 2,880 leader commits in 30 s when its own renewal woke it up)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import git, rev
from tests.running import Running, phase, wait_for

IDLE_SECONDS = 8.0


def count(repo: Path, ref: str) -> int:
    return int(git(repo, "rev-list", "--count", ref).strip()) if rev(repo, ref) else 0


def objects(repo: Path) -> int:
    out = git(repo, "count-objects", "-v")
    fields = dict(line.split(": ") for line in out.splitlines())
    return int(fields["count"]) + int(fields["in-pack"])


def test_an_idle_service_writes_only_its_renewals_and_sleeps(repo: Path) -> None:
    service = Running(repo, "--leader-ttl", "6")  # renews every 2 s
    try:
        assert wait_for(lambda: phase(repo, "m/hello") == "Queued")
        time.sleep(1.0)
        leader, status = count(repo, "refs/mc/system/leader"), rev(repo, "refs/mc/status")
        cpu, objs = service.cpu_seconds(), objects(repo)
        moved = 0
        last = rev(repo, "refs/mc/system/leader")
        deadline = time.monotonic() + IDLE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = rev(repo, "refs/mc/system/leader")
            moved, last = moved + (now != last), now
        renewals = count(repo, "refs/mc/system/leader") - leader
        chain = count(repo, "refs/mc/system/leader")
        used = service.cpu_seconds() - cpu
        written = objects(repo) - objs
        assert service.alive()
    finally:
        assert service.stop() == 0
    assert rev(repo, "refs/mc/status") == status  # nothing happened, nothing was written
    assert renewals <= 1  # the first renewal joins the grant; later ones replace it
    assert chain == 2  # its grant and its latest renewal
    assert moved <= IDLE_SECONDS / 2 + 1, moved  # one renewal per interval, not one per wake-up
    assert written <= 3 * (moved + 1), written  # a renewal is a blob, a tree and a commit
    assert used < 0.1 * IDLE_SECONDS, used  # measured: 0.6% of one core
    assert not [name for name in git(repo, "for-each-ref", "--format=%(refname)").split() if "leases/_system" in name]
