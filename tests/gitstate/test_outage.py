"""A remote outage is weathered, not fatal: the service keeps running, backs off, logs the
outage and the recovery, and resumes; agent commands say the server is unreachable (exit 5)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.gitstate.bootstrap import init_repository
from reconciler.gitstate.status_files import status_path
from tests.conftest import MC, TASK, env, git
from tests.gitserver import GitDaemon
from tests.running import Running, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitDaemon]:
    (tmp_path / "server").mkdir()
    daemon = GitDaemon(tmp_path / "server").start()
    yield daemon
    daemon.stop()


def phase_at(clone: Path, key: str) -> str | None:
    git(clone, "fetch", "-q", "origin", "+refs/mc/*:refs/mc/*")
    try:
        return git(clone, "show", f"refs/mc/status:{status_path(key)}").split('"phase": "')[1].split('"')[0]
    except AssertionError:
        return None


def test_the_service_weathers_an_outage_and_agents_say_unreachable(tmp_path: Path, server: GitDaemon) -> None:
    git(tmp_path / "server", "init", "-q", "--bare", "-b", "main", "loans.git")
    author = tmp_path / "author"
    init_repository(author, mission="m", owner="alice")
    git(author, "remote", "add", "origin", server.url("loans.git"))
    git(author, "push", "-q", "origin", "main")
    reconciler, agent = tmp_path / "reconciler", tmp_path / "agent"
    for clone in (reconciler, agent):
        git(tmp_path, "clone", "-q", server.url("loans.git"), str(clone))

    service = Running(reconciler, "--remote", "origin")
    try:
        assert wait_for(lambda: phase_at(agent, "m/hello") == "Queued", timeout=20)
        server.stop()
        time.sleep(4)  # longer than the 3 s that used to end the service
        assert service.alive()
        assert len(service.events("remote.unreachable")) == 1
        claim = subprocess.run(
            [MC, "claim", "--agent", "worker", "--remote", "origin", "-C", str(agent)],
            capture_output=True,
            text=True,
            env=env(),
            check=False,
        )
        assert claim.returncode == 5, claim
        assert "cannot reach remote origin" in claim.stderr
        assert "Traceback" not in claim.stderr

        server.start()
        (author / "missions/m/tasks/fresh.yaml").write_text(TASK.format(name="fresh", needs="[]"))
        git(author, "add", "-A")
        git(author, "commit", "-qm", "fresh")
        git(author, "push", "-q", "origin", "main")
        assert wait_for(lambda: phase_at(agent, "m/fresh") == "Queued", timeout=40)
        [recovered] = service.events("remote.recovered")
        assert int(str(recovered["tries"])) <= 6  # backed off (1, 2, 4, 8 s), not a try every second
        assert service.alive()
    finally:
        service.stop()
