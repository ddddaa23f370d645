"""Races and crashes with real `mc` processes on real Git repositories (no mocks, no threads).

Claims race as separate processes, holders are SIGKILLed mid-lease, and the reconciler is
SIGKILLed at each of its failpoints; afterwards the state in Git must be consistent.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
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

CLAIMERS = 8


def mc(repo: Path, *args: str, failpoint: str | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    extra = {"MC_FAILPOINT": failpoint} if failpoint else {}
    argv = as_holder(list(args))
    proc = subprocess.run(
        [MC, *argv, "-C", str(repo)], capture_output=True, text=True, env=env(**extra), timeout=60, check=False
    )
    if argv[:1] == ["claim"] and proc.returncode == 0:
        remember_claim(proc.stdout)
    if check:
        assert proc.returncode == 0, f"mc {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def tree_json(tree: pygit2.Tree, path: str) -> Any:
    blob = tree[path]
    assert isinstance(blob, pygit2.Blob), path
    return json.loads(blob.data)


def blob_json(repo: Path, ref: str, path: str) -> Any:
    return tree_json(pygit2.Repository(str(repo)).revparse_single(ref).peel(pygit2.Commit).tree, path)


def task_yaml(name: str, attempts: int = 3) -> str:
    """The shared task template, retried `attempts` times without waiting between attempts."""
    retries = f"  retries:\n    maxAttempts: {attempts}\n    backoff:\n      initialSeconds: 0\n"
    return TASK.format(name=name, needs="[]") + retries


def commit_tasks(repo: Path, add: dict[str, str], remove: tuple[str, ...] = (), message: str = "tasks") -> None:
    """Commit task manifests to main (and the work tree): add some, remove others."""
    r = pygit2.Repository(str(repo))
    index = r.index
    index.read()
    for name in remove:
        rel = f"missions/m/tasks/{name}.yaml"
        (repo / rel).unlink()
        index.remove(rel)
    for name, text in add.items():
        rel = f"missions/m/tasks/{name}.yaml"
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(textwrap.dedent(text), encoding="utf-8")
        index.add(rel)
    index.write()
    sig = pygit2.Signature("t", "t@t")
    r.create_commit("refs/heads/main", sig, sig, message, index.write_tree(), [r.head.target])


def status(repo: Path, key: str) -> dict[str, Any]:
    data: dict[str, Any] = blob_json(repo, "refs/mc/status", status_path(key))
    return data


def queue(repo: Path) -> list[str]:
    r = pygit2.Repository(str(repo))
    return [e.key for e in read_queue(r, str(r.references["refs/mc/status"].target)).tasks]


def lease_log(repo: Path, key: str) -> list[dict[str, Any]]:
    """The lease chain of `key`, oldest first: each commit's lease.json."""
    r = pygit2.Repository(str(repo))
    tip = r.references[lease_ref(key)].target
    chain = [tree_json(c.tree, "lease.json") for c in r.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)]
    return chain[::-1]


def reconcile(repo: Path, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    return mc(repo, "reconcile", failpoint=failpoint, check=failpoint is None)


def fsck_clean(repo: Path) -> None:
    proc = subprocess.run(
        ["git", "-C", str(repo), "fsck", "--no-dangling", "--no-progress"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr


def race_claims(repo: Path, n: int = CLAIMERS) -> list[tuple[int, str, str]]:
    """Start `n` `mc claim` processes before waiting on any of them; their exit codes and output."""
    procs = [
        subprocess.Popen(
            [MC, "claim", "--agent", "worker", "-o", "json", "-C", str(repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for i in range(n)
    ]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=60)
        results.append((p.returncode, stdout, stderr))
    return results


def refused(proc: subprocess.CompletedProcess[str], why: str) -> None:
    """Refused the way a user sees it: exit code 1, the reason on stderr, no traceback."""
    assert proc.returncode == 1, proc
    assert why in proc.stderr, proc
    assert "Traceback" not in proc.stderr, proc


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_winner(results: list[tuple[int, str, str]]) -> dict[str, Any]:
    winners = [json.loads(out) for code, out, _ in results if code == 0]
    assert len(winners) == 1, results
    for code, _, stderr in results:
        if code != 0:
            assert code == 3 or "claimed by someone else" in stderr or "no task is ready" in stderr, (code, stderr)
            assert "Traceback" not in stderr, stderr
    lease: dict[str, Any] = winners[0]
    return lease


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    init_repository(root, mission="m", owner="alice")
    return root


# -- 1. claim race ------------------------------------------------------------------------
def test_claim_race_has_exactly_one_winner(repo: Path) -> None:
    rounds = int(os.environ.get("MC_TEST_CLAIM_ROUNDS", "50"))
    previous = "hello"
    started, cpu = time.perf_counter(), children_cpu()
    for i in range(rounds):
        name = f"r{i}"
        commit_tasks(repo, {name: task_yaml(name)}, remove=(previous,), message=f"round {i}")
        reconcile(repo)
        assert queue(repo) == [f"m/{name}"]
        lease = one_winner(race_claims(repo))
        assert (lease["task"], lease["generation"]) == (f"m/{name}", 1)
        chain = lease_log(repo, f"m/{name}")
        assert [(c["generation"], c["state"], c["agent"]) for c in chain] == [(1, "active", lease["agent"])]
        assert rev(repo, lease_ref(f"m/{name}")) == lease["leaseCommit"]
        assert rev(repo, f"refs/heads/mc/work/m/{name}") == lease["workCommit"] == rev(repo, "refs/heads/main")
        if i:  # the previous round's task left main: cancelled, its lease revoked
            assert status(repo, f"m/{previous}")["phase"] == "Cancelled"
            assert [c["state"] for c in lease_log(repo, f"m/{previous}")] == ["active", "revoked"]
        previous = name
    elapsed, used = time.perf_counter() - started, children_cpu() - cpu
    print(f"\n{rounds} rounds x {CLAIMERS} claimers: {elapsed:.1f}s wall, {used:.1f}s CPU in child processes")


def solo(repo: Path, name: str, attempts: int = 3) -> None:
    """Replace the scaffold's `hello` with one task `name` that retries without backoff."""
    commit_tasks(repo, {name: task_yaml(name, attempts)}, remove=("hello",), message=f"only {name}")


def history(repo: Path, key: str) -> list[tuple[str | None, str]]:
    return [(e["source"], e["target"]) for e in status(repo, key)["history"]]


def status_transitions(repo: Path) -> list[str]:
    """Every transition line of every commit message on `refs/mc/status`, oldest first."""
    log = git(repo, "log", "--reverse", "--format=%B%x00", "refs/mc/status")
    return [line for body in log.split("\0") for line in body.splitlines() if " -> " in line]


# -- 2. a holder SIGKILLed mid-lease -------------------------------------------------------
HOLDER = """\
"$MC" claim --agent worker --ttl 2 -o json -C "$REPO" > "$OUT.tmp" || exit 1
mv "$OUT.tmp" "$OUT"
export MC_LEASE_TOKEN="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["leaseToken"])' "$OUT")"
while true; do
  if "$MC" heartbeat m/t -g 1 -C "$REPO" > /dev/null 2>&1; then echo beat; else echo late; fi
  sleep 0.2
done
"""


def test_sigkilled_holder_is_expired_and_fenced(repo: Path, tmp_path: Path) -> None:
    solo(repo, "t")
    reconcile(repo)
    claimed = tmp_path / "claimed.json"
    holder = subprocess.Popen(
        ["bash", "-c", HOLDER],
        stdout=subprocess.PIPE,
        text=True,
        env=env(MC=MC, REPO=str(repo), OUT=str(claimed)),
        start_new_session=True,
    )
    beats = 0
    try:
        assert holder.stdout is not None
        # Two renewals, then kill it while it sleeps (it holds no ref lock then). On a loaded
        # machine a renewal may come too late for a 2 s lease: then the holder just died earlier.
        while beats < 2:
            line = holder.stdout.readline()
            assert line in ("beat\n", "late\n"), (line, holder.poll())
            if line == "late\n":
                break
            beats += 1
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    assert holder.returncode == -signal.SIGKILL
    lease = json.loads(claimed.read_text())
    assert (lease["task"], lease["generation"]) == ("m/t", 1)
    remember_claim(claimed.read_text())  # the test plays the dead holder coming back, token in hand
    chain = lease_log(repo, "m/t")
    assert [c["state"] for c in chain] == ["active"] * (1 + min(beats, 1))  # a renewal replaces the last
    reconcile(repo)  # it may or may not have expired yet: either way nothing breaks
    deadline = time.time() + 10
    while status(repo, "m/t")["phase"] != "Queued":
        assert time.time() < deadline, status(repo, "m/t")
        time.sleep(0.25)
        reconcile(repo)
    states = [c["state"] for c in lease_log(repo, "m/t")]
    assert states == ["active"] * (1 + min(beats, 1)) + ["expired"]
    st = status(repo, "m/t")
    assert (st["attempts"], st["failures"], st["generation"]) == (1, 1, 1)
    hist = history(repo, "m/t")
    assert hist[-2:] == [("Running" if beats else "Leased", "Expired"), ("Expired", "Queued")], hist
    assert "attempt 2 of 3 after 0s" in st["history"][-1]["reason"]

    second = mc(repo, "claim", "--agent", "worker", "-o", "json", check=True)
    assert json.loads(second.stdout)["generation"] == 2
    lease_tip, work_tip = rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/mc/work/m/t")

    late = mc(repo, "complete", "m/t", "-g", "1")
    refused(late, "stale generation")
    assert (rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/mc/work/m/t")) == (lease_tip, work_tip)

    mc(repo, "complete", "m/t", "-g", "2", check=True)
    reconcile(repo)
    st = status(repo, "m/t")
    assert st["phase"] == "Succeeded", st
    assert (st["attempts"], st["failures"], st["generation"]) == (2, 1, 2)
    result = git(repo, "log", "-1", "--format=%B", "refs/heads/mc/work/m/t")
    assert "MC-Generation: 2" in result
    assert "MC-Kind: result" in result


def wait_out(repo: Path, key: str) -> None:
    """Sleep until the lease of `key` has run out."""
    expires = datetime.fromisoformat(lease_log(repo, key)[-1]["expires_at"].replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 0.05)


def test_lock_left_by_a_killed_writer_does_not_wedge_the_lease(repo: Path) -> None:
    """A writer SIGKILLed while it holds the lease ref's lock leaves `<ref>.lock` behind."""
    solo(repo, "t")
    reconcile(repo)
    mc(repo, "claim", "--agent", "worker", "--ttl", "1", "-o", "json", check=True)
    ref, tip, main = lease_ref("m/t"), rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/main")
    writer = subprocess.Popen(
        ["git", "-C", str(repo), "update-ref", "--stdin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdin is not None
    assert writer.stdout is not None
    writer.stdin.write(f"start\nupdate {ref} {main} {tip}\nprepare\n")
    writer.stdin.flush()
    assert [writer.stdout.readline(), writer.stdout.readline()] == ["start: ok\n", "prepare: ok\n"]
    writer.kill()  # SIGKILL between prepare and commit: the lock stays
    writer.wait(timeout=10)
    lock = repo / ".git" / f"{ref}.lock"
    assert lock.exists()
    wait_out(repo, "m/t")

    # A fresh lock may belong to a live writer: it is left alone, and only that task waits.
    held = mc(repo, "reconcile", "-o", "json", check=True)
    assert json.loads(held.stdout)["transitions"] == []
    assert lock.exists()
    assert rev(repo, ref) == tip
    condition = next(c for c in status(repo, "m/t")["conditions"] if c["type"] == "ObservedStateValid")
    assert (condition["status"], condition["reason"]) == (False, "LeaseLocked")

    old = time.time() - 120  # as if the crash had happened two minutes ago
    os.utime(lock, (old, old))
    reconcile(repo)
    assert not lock.exists()
    assert [c["state"] for c in lease_log(repo, "m/t")] == ["active", "expired"]
    assert status(repo, "m/t")["phase"] == "Queued"
    again = json.loads(mc(repo, "claim", "--agent", "worker", "-o", "json", check=True).stdout)
    assert again["generation"] == 2


# -- 3. the reconciler SIGKILLed mid-pass ------------------------------------------------
FAILPOINTS = ("reconcile-after-lease-write", "reconcile-before-status-ref", "reconcile-after-status-ref")


def expired_leases_and_a_new_task(repo: Path, attempts: int, holders: int = 1) -> None:
    """`m/old` (and `m/old2`...) Running under leases that have run out; `m/new` on main, unseen."""
    olds = ["old"] + [f"old{i}" for i in range(2, holders + 1)]
    agent = repo / "missions/m/agents/worker.yaml"
    agent.write_text(agent.read_text() + f"  replicas: {holders}\n")
    git(repo, "add", "missions/m/agents/worker.yaml")
    commit_tasks(repo, {n: task_yaml(n, attempts) for n in olds}, remove=("hello",), message="olds")
    reconcile(repo)
    ttl = str(2 + len(olds))  # long enough to be seen Running first, even on a loaded machine
    for _ in olds:
        claimed = json.loads(mc(repo, "claim", "--agent", "worker", "--ttl", ttl, "-o", "json", check=True).stdout)
        assert claimed["generation"] == 1
        mc(repo, "heartbeat", claimed["task"], "-g", "1", check=True)
    reconcile(repo)
    assert {status(repo, f"m/{n}")["phase"] for n in olds} == {"Running"}
    commit_tasks(repo, {"new": task_yaml("new")}, message="add new")
    for name in olds:
        wait_out(repo, f"m/{name}")


@pytest.fixture(scope="module")
def expired_repo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, Path], Path]:
    """The set-up waits out a lease, so make it once per `attempts` and hand out copies."""
    made: dict[int, Path] = {}

    def copy(attempts: int, dest: Path) -> Path:
        if attempts not in made:
            base = tmp_path_factory.mktemp(f"expired-{attempts}") / "repo"
            init_repository(base, mission="m", owner="alice")
            expired_leases_and_a_new_task(base, attempts)
            made[attempts] = base
        shutil.copytree(made[attempts], dest, symlinks=True)
        return dest

    return copy


def assert_settled(repo: Path, olds: list[str], end: str) -> None:
    """After recovery: each expired task failed once, `m/new` queued, no event recorded twice."""
    for name in olds:
        old = status(repo, f"m/{name}")
        assert old["phase"] == end, old
        assert (old["attempts"], old["failures"], old["generation"]) == (1, 1, 1), old
        hist = history(repo, f"m/{name}")
        assert hist.count(("Running", "Expired")) == 1, hist
        assert hist[-2:] == [("Running", "Expired"), ("Expired", end)], hist
        assert [c["state"] for c in lease_log(repo, f"m/{name}")].count("expired") == 1
    assert status(repo, "m/new")["phase"] == "Queued"
    assert sorted(queue(repo)) == sorted(["m/new"] + ([f"m/{n}" for n in olds] if end == "Queued" else []))
    lines = status_transitions(repo)
    assert len(lines) == len(set(lines)), lines
    for name in olds:
        assert sum(line.startswith(f"m/{name}: Running -> Expired") for line in lines) == 1, lines
        assert sum(line.startswith(f"m/{name}: Expired -> {end}") for line in lines) == 1, lines
    assert sum(line.startswith("m/new: Pending -> Queued") for line in lines) == 1, lines
    fsck_clean(repo)
    settled = rev(repo, "refs/mc/status")
    reconcile(repo)  # a further pass finds nothing left to do
    assert rev(repo, "refs/mc/status") == settled


@pytest.mark.parametrize("attempts", [3, 1], ids=["retry", "last-attempt"])
@pytest.mark.parametrize("point", FAILPOINTS)
def test_reconciler_killed_mid_pass_recovers(
    expired_repo: Callable[[int, Path], Path], tmp_path: Path, point: str, attempts: int
) -> None:
    repo = expired_repo(attempts, tmp_path / "repo")
    before = rev(repo, "refs/mc/status")

    killed = reconcile(repo, failpoint=point)
    assert killed.returncode == -signal.SIGKILL, killed
    assert (rev(repo, "refs/mc/status") != before) == (point == "reconcile-after-status-ref")
    assert lease_log(repo, "m/old")[-1]["state"] == "expired"  # the lease write always comes first

    reconcile(repo)
    assert_settled(repo, ["old"], "Queued" if attempts > 1 else "Failed")


def test_reconciler_killed_at_every_point_in_turn(repo: Path) -> None:
    """Two leases to expire: the first crash leaves one expired and one not; crash again at each
    later point, then let a pass finish."""
    expired_leases_and_a_new_task(repo, 3, holders=2)
    for point in FAILPOINTS:
        assert reconcile(repo, failpoint=point).returncode == -signal.SIGKILL, point
        if point == "reconcile-after-lease-write":
            assert sorted(lease_log(repo, f"m/{n}")[-1]["state"] for n in ("old", "old2")) == ["active", "expired"]
    reconcile(repo)
    assert_settled(repo, ["old", "old2"], "Queued")


# -- 4. late reports are fenced ----------------------------------------------------------
def test_late_reports_from_a_stale_generation_change_nothing(repo: Path) -> None:
    solo(repo, "t")
    reconcile(repo)
    mc(repo, "claim", "--agent", "worker", "--ttl", "2", "-o", "json", check=True)
    first = mc(repo, "checkpoint", "m/t", "--message", "step 1", "-g", "1", "-o", "json", check=True)
    assert rev(repo, "refs/heads/mc/work/m/t") == json.loads(first.stdout)["commit"]
    wait_out(repo, "m/t")

    # expired but not yet processed by the reconciler: refused already
    tips = (rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/mc/work/m/t"))
    late = mc(repo, "checkpoint", "m/t", "--message", "late", "-g", "1")
    refused(late, "expired")
    assert (rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/mc/work/m/t")) == tips

    reconcile(repo)
    second = json.loads(mc(repo, "claim", "--agent", "worker", "-o", "json", check=True).stdout)
    assert second["generation"] == 2
    assert second["workCommit"] == tips[1]  # it resumes from the last checkpoint
    tips = (rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/mc/work/m/t"))
    for args in (
        ("checkpoint", "m/t", "--message", "late", "-g", "1"),
        ("heartbeat", "m/t", "-g", "1"),
        ("complete", "m/t", "-g", "1"),
        ("fail", "m/t", "-g", "1", "--reason", "late"),
        ("release", "m/t", "-g", "1"),
    ):
        proc = mc(repo, *args)
        refused(proc, "stale generation")
        assert (rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/mc/work/m/t")) == tips, args
    ahead = mc(repo, "checkpoint", "m/t", "--message", "future", "-g", "3")
    refused(ahead, "generation 3 of m/t was never granted")
    assert (rev(repo, lease_ref("m/t")), rev(repo, "refs/heads/mc/work/m/t")) == tips

    ok = json.loads(mc(repo, "checkpoint", "m/t", "--message", "step 2", "-g", "2", "-o", "json", check=True).stdout)
    assert rev(repo, "refs/heads/mc/work/m/t") == ok["commit"]
    assert git(repo, "rev-parse", f"{ok['commit']}^").strip() == tips[1]
    body = git(repo, "log", "-1", "--format=%B", ok["commit"])
    assert "MC-Generation: 2" in body
    assert "MC-Kind: checkpoint" in body


BEATING = """\
while [ ! -e "$STOP" ]; do "$MC" heartbeat m/t -g 1 -C "$REPO" > /dev/null 2>> "$ERRORS" || true; done
"""  # the lease token comes in MC_LEASE_TOKEN, as the agent's own environment


def test_own_heartbeats_do_not_fail_checkpoints_or_the_result(repo: Path, tmp_path: Path) -> None:
    """An agent renews from a background loop while it checkpoints: both move the lease chain."""
    solo(repo, "t")
    reconcile(repo)
    token = json.loads(mc(repo, "claim", "--agent", "worker", "-o", "json", check=True).stdout)["leaseToken"]
    stop, errors = tmp_path / "stop", tmp_path / "errors"
    errors.touch()
    beater = subprocess.Popen(
        ["bash", "-c", BEATING],
        env=env(MC=MC, REPO=str(repo), STOP=str(stop), ERRORS=str(errors), MC_LEASE_TOKEN=token),
    )
    try:
        for i in range(int(os.environ.get("MC_TEST_CHECKPOINTS", "10"))):
            mc(repo, "checkpoint", "m/t", "--message", f"step {i}", "-g", "1", check=True)
        mc(repo, "complete", "m/t", "-g", "1", check=True)
    finally:
        stop.touch()
        beater.wait(timeout=30)
    renewals = [c["state"] for c in lease_log(repo, "m/t")]
    assert renewals[:2] == ["active", "active"], renewals
    assert renewals[-1] == "completed", renewals
    assert "Traceback" not in errors.read_text()
    assert all("has ended" in line for line in errors.read_text().splitlines()), errors.read_text()
    reconcile(repo)
    assert status(repo, "m/t")["phase"] == "Succeeded"
