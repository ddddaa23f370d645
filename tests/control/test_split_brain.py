"""No split brain on a slow pass: the leader renews its lease while it works, every write of a
pass is fenced with that lease (a deposed leader writes nothing), and SIGTERM in the middle of
a long pass still stops the service within a few seconds."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pygit2
import pytest

import reconciler.control.reconcile as reconcile_module
from reconciler.control.leader import Deposed, Leader
from reconciler.control.log import Log
from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.store import Store
from tests.conftest import git, rev
from tests.running import Running, phase, wait_for


def test_a_slow_pass_keeps_its_leadership(repo: Path) -> None:
    slow = Running(repo, "--leader-ttl", "2", failpoint="reconcile-after-decide:sleep=6")
    other: Running | None = None
    try:
        assert wait_for(lambda: bool(slow.events("leader.acquired")))
        other = Running(repo, "--leader-ttl", "2")
        time.sleep(4.5)  # more than twice the TTL, all inside the slow pass
        assert other.events("leader.acquired") == []
        assert slow.events("leader.lost") == []
        assert wait_for(lambda: phase(repo, "m/hello") == "Queued", timeout=10)  # the slow pass lands
    finally:
        if other is not None:
            other.stop()
        slow.stop()


def test_a_deposed_leader_writes_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(pygit2.Repository(str(repo)))
    leader = Leader(store, "reconciler-a", 15.0, time.time, Log(stream=io.StringIO()))
    assert leader.step()
    reconciler = Reconciler(store, fence=leader.fence)

    def take_over(name: str) -> None:  # another instance takes the lease while this pass decides
        if name == "reconcile-after-decide":
            git(repo, "update-ref", "refs/mc/system/leader", str(rev(repo, "HEAD")))

    monkeypatch.setattr(reconcile_module, "failpoint", take_over)
    with pytest.raises(Deposed):
        reconciler.run_once()
    assert rev(repo, "refs/mc/status") is None
    assert not leader.leading


def test_sigterm_in_the_middle_of_a_long_pass_stops_within_seconds(repo: Path) -> None:
    slow = Running(repo, failpoint="reconcile-after-decide:sleep=60")
    assert wait_for(lambda: bool(slow.events("leader.acquired")))
    time.sleep(1.0)
    started = time.monotonic()
    code = slow.stop(timeout=10)
    assert time.monotonic() - started < 5
    assert code == 0
    assert [e["event"] for e in slow.logs()][-3:] == ["stop.during-pass", "leader.resigned", "stop"]
    assert rev(repo, "refs/mc/status") is None  # the abandoned pass wrote nothing


def quiet_leader(repo: Path, ttl: float = 15.0) -> Leader:
    return Leader(Store(pygit2.Repository(str(repo))), "reconciler-a", ttl, time.time, Log(stream=io.StringIO()))


def test_a_resigned_leader_never_takes_the_lease_again(repo: Path) -> None:
    leader = quiet_leader(repo)
    assert leader.step()
    leader.resign()
    assert not leader.step()  # a keeper step racing the shutdown
    lease = json.loads(git(repo, "show", "refs/mc/system/leader:lease.json"))
    assert lease["state"] == "released"
    with pytest.raises(Deposed), leader.fence():
        pass


def test_a_moment_of_lock_on_the_leader_ref_does_not_depose_the_leader(repo: Path) -> None:
    leader = quiet_leader(repo, ttl=0.3)
    assert leader.step()
    time.sleep(0.15)  # a renewal is due
    lock = repo / ".git/refs/mc/system/leader.lock"
    lock.write_text("")
    assert leader.step()  # still the leader: it renews at the next step
    lock.unlink()
    before = rev(repo, "refs/mc/system/leader")
    assert leader.step()
    assert rev(repo, "refs/mc/system/leader") != before


def test_a_leader_keeps_its_own_live_lease_after_a_restart_of_its_keeper(repo: Path) -> None:
    first = quiet_leader(repo)
    assert first.step()
    again = quiet_leader(repo)  # same identity (host and pid): its own lease, not another's
    assert again.step()
