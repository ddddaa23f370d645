"""Coordination through a shared remote: clones of one bare repository, real `mc` processes.

Each clone stands for a machine. Claims are fast-forward-only pushes of the next commit of a
lease chain, so of several claimers exactly one wins, whichever clone it runs in.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pygit2
import pytest

from reconciler.gitstate.bootstrap import init_repository
from reconciler.gitstate.queue import read_queue
from reconciler.gitstate.refs import lease_ref
from reconciler.gitstate.status_files import status_path
from tests.conftest import MC, TASK, as_holder, env, git, remember_claim, rev

CLONES = max(2, int(os.environ.get("MC_TEST_CLONES", "4")))  # 4 to 8 "machines"; several claimers share one
CLAIMERS = 8


def mc(clone: Path, *args: str, check: bool = False, failpoint: str = "") -> subprocess.CompletedProcess[str]:
    argv = as_holder(list(args))
    proc = subprocess.run(
        [MC, *argv, "--remote", "origin", "-C", str(clone)],
        capture_output=True,
        text=True,
        env=env(**({"MC_FAILPOINT": failpoint} if failpoint else {})),
        timeout=60,
        check=False,
    )
    if argv[:1] == ["claim"] and proc.returncode == 0:
        remember_claim(proc.stdout)
    if check:
        assert proc.returncode == 0, f"mc {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def refused(proc: subprocess.CompletedProcess[str], why: str) -> None:
    assert proc.returncode == 1, proc
    assert why in proc.stderr, proc
    assert "Traceback" not in proc.stderr, proc


def show_json(repo: Path, spec: str) -> Any:
    return json.loads(git(repo, "show", spec))


def lease_chain(repo: Path, key: str) -> list[dict[str, Any]]:
    commits = git(repo, "rev-list", "--reverse", lease_ref(key)).split()
    return [show_json(repo, f"{c}:lease.json") for c in commits]


class Site:
    """A bare repository (the shared server), the author's repository, and clones of the bare one."""

    def __init__(self, root: Path, clones: int) -> None:
        self.bare = root / "server.git"
        self.author = root / "author"
        init_repository(self.author, mission="m", owner="alice")
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(self.author, "remote", "add", "origin", str(self.bare))
        git(self.author, "push", "-q", "origin", "main")
        self.clones = [root / f"clone{i}" for i in range(clones)]
        for clone in self.clones:
            git(root, "clone", "-q", str(self.bare), str(clone))

    def publish(self, add: str | None, remove: str | None) -> None:
        """Commit a task change in the author's repository and push it to the server's main."""
        tasks = self.author / "missions" / "m" / "tasks"
        if remove is not None:
            git(self.author, "rm", "-q", f"missions/m/tasks/{remove}.yaml")
        if add is not None:
            tasks.mkdir(parents=True, exist_ok=True)
            (tasks / f"{add}.yaml").write_text(TASK.format(name=add, needs="[]"), encoding="utf-8")
            git(self.author, "add", f"missions/m/tasks/{add}.yaml")
        git(self.author, "commit", "-q", "-m", f"tasks: +{add} -{remove}")
        git(self.author, "push", "-q", "origin", "main")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path, CLONES)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def race(clones: list[Path]) -> list[tuple[int, str, str]]:
    """CLAIMERS `mc claim --remote` processes spread over the clones, all started before any is waited on."""
    procs = [
        subprocess.Popen(
            [MC, "claim", "--agent", "worker", "-o", "json", "--remote", "origin", "-C", str(clones[i % len(clones)])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for i in range(CLAIMERS)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        results.append((p.returncode, out, err))
    return results


def test_claims_through_a_shared_remote_have_one_winner(site: Site) -> None:
    rounds = int(os.environ.get("MC_TEST_REMOTE_ROUNDS", "10"))
    previous = "hello"
    started, cpu = time.perf_counter(), children_cpu()
    winner_clone = site.clones[0]
    for i in range(rounds):
        name = f"r{i}"
        site.publish(name, previous)
        reconciler_clone = site.clones[i % len(site.clones)]
        mc(reconciler_clone, "reconcile", check=True)
        bare = pygit2.Repository(str(site.bare))
        queued = read_queue(bare, str(bare.references["refs/mc/status"].target)).tasks
        assert [e.key for e in queued] == [f"m/{name}"]

        results = race(site.clones)
        winners = [(j, json.loads(out)) for j, (code, out, _) in enumerate(results) if code == 0]
        assert len(winners) == 1, results
        for code, _, err in results:
            if code != 0:
                assert "Traceback" not in err, err
                assert code == 3, (code, err)
                assert any(w in err for w in ("claimed by someone else", "no task is ready", "already holds")), err
        index, lease = winners[0]
        remember_claim(json.dumps(lease))
        winner_clone = site.clones[index % len(site.clones)]
        assert (lease["task"], lease["generation"]) == (f"m/{name}", 1)
        chain = lease_chain(site.bare, f"m/{name}")
        assert [(c["generation"], c["state"]) for c in chain] == [(1, "active")]
        assert rev(site.bare, lease_ref(f"m/{name}")) == lease["leaseCommit"]
        assert rev(site.bare, f"refs/heads/mc/work/m/{name}") == lease["workCommit"]
        previous = name
    elapsed, used = time.perf_counter() - started, children_cpu() - cpu
    print(
        f"\n{rounds} rounds x {CLAIMERS} claimers over {CLONES} clones: {elapsed:.1f}s wall, {used:.1f}s CPU in children"
    )

    key = f"m/{previous}"
    other = next(c for c in site.clones if c != winner_clone)
    mc(winner_clone, "heartbeat", key, "-g", "1", check=True)
    mc(winner_clone, "checkpoint", key, "--message", "halfway", "-g", "1", check=True)
    late = mc(other, "complete", key, "-g", "2")
    refused(late, "generation 2 of " + key + " was never granted")
    mc(winner_clone, "complete", key, "-g", "1", check=True)
    chain = lease_chain(site.bare, key)
    # grant, heartbeat, checkpoint (through a remote, a checkpoint also renews: that is its fence), result
    assert [c["state"] for c in chain] == [
        "active",
        "active",
        "completed",
    ]  # the checkpoint's renewal replaced the heartbeat's
    assert {c["generation"] for c in chain} == {1}
    work = git(site.bare, "log", "--format=%s", f"refs/heads/mc/work/{key}").splitlines()
    assert work[:2] == [f"Result of {key}", "halfway"]

    mc(other, "reconcile", check=True)
    st = show_json(site.bare, "refs/mc/status:" + status_path(key))
    assert st["phase"] == "Succeeded", st
    assert [e["target"] for e in st["history"]][-3:] == ["Leased", "Running", "Succeeded"]
    again = mc(winner_clone, "complete", key, "-g", "1")
    refused(again, "has ended")


PRE_PUSH = """\
#!/bin/sh
# Runs inside the stale holder's push, after it checked its lease: a successor takes over.
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
if [ ! -e "{mark}" ]; then
  touch "{mark}"
  MC_LEASE_TOKEN="{token}" "{mc}" release m/hello -g 1 --remote origin -C "{other}" >&2 &&
  "{mc}" reconcile --remote origin -C "{other}" >&2 &&
  "{mc}" claim --agent worker -o json --remote origin -C "{other}" > "{out}"
fi
exit 0
"""


@pytest.fixture
def pair(tmp_path: Path) -> Site:
    return Site(tmp_path, 2)


def test_checkpoint_through_a_remote_is_fenced_at_the_server(pair: Site, tmp_path: Path) -> None:
    """A successor is granted between the holder's check and its push: the push must lose."""
    stale, other = pair.clones
    mc(stale, "reconcile", check=True)
    first = json.loads(mc(stale, "claim", "--agent", "worker", "-o", "json", check=True).stdout)
    assert (first["task"], first["generation"]) == ("m/hello", 1)
    successor = tmp_path / "successor.json"
    hook = stale / ".git" / "hooks" / "pre-push"
    text = PRE_PUSH.format(mark=tmp_path / "fired", mc=MC, other=other, out=successor, token=first["leaseToken"])
    hook.write_text(text, encoding="utf-8")
    hook.chmod(0o755)

    late = mc(stale, "checkpoint", "m/hello", "--message", "late", "-g", "1")
    assert (tmp_path / "fired").exists()
    second = json.loads(successor.read_text())
    remember_claim(successor.read_text())
    assert second["generation"] == 2
    refused(late, "stale generation")
    assert rev(pair.bare, lease_ref("m/hello")) == second["leaseCommit"]
    assert rev(pair.bare, "refs/heads/mc/work/m/hello") == second["workCommit"] == first["workCommit"]

    hook.unlink()
    mc(other, "checkpoint", "m/hello", "--message", "step", "-g", "2", check=True)
    log = git(pair.bare, "log", "--format=%s", "refs/heads/mc/work/m/hello").splitlines()
    assert log[0] == "step"
    assert "late" not in log


def test_reconciler_killed_mid_pass_through_a_remote_recovers(pair: Site) -> None:
    """Kill `mc reconcile --remote` at each failpoint in turn, from alternating clones."""
    holder, other = pair.clones
    mc(holder, "reconcile", check=True)
    mc(holder, "claim", "--agent", "worker", "--ttl", "3", "-o", "json", check=True)
    mc(holder, "heartbeat", "m/hello", "-g", "1", check=True)
    mc(other, "reconcile", check=True)
    pair.publish("new", None)
    expires = lease_chain(pair.bare, "m/hello")[-1]["expires_at"]
    time.sleep(max(0.0, datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() - time.time()) + 0.05)

    points = ("reconcile-after-lease-write", "reconcile-before-status-ref", "reconcile-after-status-ref")
    for i, point in enumerate(points):
        killed = mc(pair.clones[i % 2], "reconcile", failpoint=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed)
    mc(other, "reconcile", check=True)

    st = show_json(pair.bare, "refs/mc/status:" + status_path("m/hello"))
    assert (st["phase"], st["attempts"], st["failures"]) == ("Queued", 1, 1), st
    assert [(e["source"], e["target"]) for e in st["history"]][-2:] == [("Running", "Expired"), ("Expired", "Queued")]
    assert [c["state"] for c in lease_chain(pair.bare, "m/hello")].count("expired") == 1
    assert show_json(pair.bare, "refs/mc/status:" + status_path("m/new"))["phase"] == "Queued"
    log = git(pair.bare, "log", "--format=%B", "refs/mc/status")
    lines = [line for line in log.splitlines() if " -> " in line]
    assert len(lines) == len(set(lines)), lines
    fsck = subprocess.run(
        ["git", "-C", str(pair.bare), "fsck", "--no-dangling"], capture_output=True, text=True, check=False
    )
    assert fsck.returncode == 0, fsck.stderr


def test_service_through_a_remote_queues_pushed_tasks_and_expires_leases(site: Site) -> None:
    """`mc reconciler run --remote origin` in one clone serves every machine through the server."""
    service = subprocess.Popen(
        [MC, "reconciler", "run", "--remote", "origin", "--log-format", "json", "-C", str(site.clones[0])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:

        def phase(key: str) -> str | None:
            proc = subprocess.run(
                ["git", "-C", str(site.bare), "show", "refs/mc/status:" + status_path(key)],
                capture_output=True,
                text=True,
                check=False,
            )
            return str(json.loads(proc.stdout)["phase"]) if proc.returncode == 0 else None

        def until(predicate: Any, timeout: float = 20.0) -> bool:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if predicate():
                    return True
                time.sleep(0.1)
            return False

        assert until(lambda: phase("m/hello") == "Queued")
        site.publish(add="pushed", remove=None)  # another machine pushes a task to the server
        assert until(lambda: phase("m/pushed") == "Queued")
        claimed = mc(
            site.clones[1], "claim", "--agent", "worker", "--ttl", "3", "--remote", "origin", "-o", "json", check=True
        )
        key = json.loads(claimed.stdout)["task"]
        assert until(lambda: phase(key) == "Leased")
        # nobody heartbeats: the service, on its own timer, expires the lease on the server
        assert until(lambda: "expired" in git(site.bare, "log", "--format=%s", lease_ref(key)))
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=20) == 0
    leader = show_json(site.bare, "refs/mc/system/leader:lease.json")
    assert leader["state"] == "released"
