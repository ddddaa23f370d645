"""Benchmark claim throughput, and the latency from a commit on main to a Queued task.

Claims: builds a throwaway repository with K + C ready tasks (or N, with `--queue-tasks N`), all
for one agent and with no paths, and runs one reconcile pass so that every task is Queued. Then
times, on that repository and in the same run:

- K claims in-process (`agent_ops.claim`, sequentially, each taking the next task);
- C claims through the CLI (`mc claim ... -o json`, one process each), after a reconcile pass
  that takes the K leased tasks out of the queue;
- the floor Git sets: K `git update-ref REF NEW OLD` processes, and K `start/update/prepare/
  commit` transactions through one long-lived `git update-ref --stdin`; and C bare interpreter
  starts (`python -c pass`), the floor of any CLI call.

Latency: starts `mc reconciler run` on a repository of L queued tasks, waits until it leads
and is idle, then M times commits a new task on main and polls `refs/mc/status` every 2 ms
until that task is Queued. One series of M commits per pause in `--gaps-ms`: with no pause,
each commit follows the previous task's Queued at once; with a pause, the service has time
to go back to waiting first.

With `--queue-tasks N` the repository is built and queued once (then packed), and each run
claims from a copy of it: what a claim costs against a queue of N tasks.

Usage: python benchmarks/bench_claims.py [--claims K] [--cli-claims C] [--queue-tasks N]
       [--commits M] [--latency-tasks L] [--gaps-ms MS ...] [--repeat R] [--quick] [--profile] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
from bench_load import Timing
from bench_reconcile import (
    AGENT,
    MISSION,
    REPLICAS,
    Profile,
    build_repo,
    commit_file,
    profile,
    profile_json,
    profile_lines,
    task_path,
    task_yaml,
)

from reconciler.agentops.claim import Claimed, claim
from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.queue import read_queue
from reconciler.gitstate.refs import STATUS_REF, ZERO
from reconciler.gitstate.status_files import status_path
from reconciler.gitstate.store import Store
from reconciler.manifests.model import agent_id
from reconciler.vocabulary.phases import Phase

BIN = Path(sys.executable).parent
MC = BIN / "mc"
SCRATCH_REF = "refs/bench/scratch"
TTL = 600.0
POLL_S = 0.002
LATENCY_TIMEOUT_S = 60.0
SHAPE = "tasks need nothing and claim no paths; one agent may take them all"


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark sanity check failed: {what}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------------------------
# Claim throughput
# --------------------------------------------------------------------------------------------


def update_ref_processes(path: str, a: str, b: str, count: int) -> float:
    """`count` compare-and-swaps of a scratch ref, one `git update-ref REF NEW OLD` process each."""
    subprocess.run(["git", "--git-dir", path, "update-ref", SCRATCH_REF, a, ZERO], check=True)
    pair = [a, b]
    gc.collect()
    start = time.perf_counter()
    for _ in range(count):
        subprocess.run(["git", "--git-dir", path, "update-ref", SCRATCH_REF, pair[1], pair[0]], check=True)
        pair.reverse()
    seconds = time.perf_counter() - start
    subprocess.run(["git", "--git-dir", path, "update-ref", "-d", SCRATCH_REF], check=True)
    return seconds


def update_ref_stdin(path: str, a: str, b: str, count: int) -> float:
    """`count` compare-and-swap transactions through one long-lived `git update-ref --stdin`."""
    subprocess.run(["git", "--git-dir", path, "update-ref", SCRATCH_REF, a, ZERO], check=True)
    proc = subprocess.Popen(
        ["git", "--git-dir", path, "update-ref", "--stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    pair = [a, b]
    gc.collect()
    start = time.perf_counter()
    for i in range(count):
        proc.stdin.write(f"start\nupdate {SCRATCH_REF} {pair[1]} {pair[0]}\nprepare\ncommit\n")
        proc.stdin.flush()
        replies = [proc.stdout.readline().strip() for _ in range(3)]
        if replies != ["start: ok", "prepare: ok", "commit: ok"]:
            raise SystemExit(f"update-ref --stdin transaction {i} failed: {replies}")
        pair.reverse()
    seconds = time.perf_counter() - start
    proc.stdin.close()
    _expect(proc.wait() == 0, "git update-ref --stdin exited with an error")
    _expect(str(pygit2.Repository(path).references[SCRATCH_REF].target) == pair[0], "the scratch ref is off")
    subprocess.run(["git", "--git-dir", path, "update-ref", "-d", SCRATCH_REF], check=True)
    return seconds


def scratch_commit(repo: pygit2.Repository, parent: str) -> str:
    """A small commit for the scratch ref to move to and from. (Not the status commit: the first
    pass's message lists every transition, megabytes at 100,000 tasks, and git reads the commit
    a ref is moved to.)"""
    sig = pygit2.Signature("bench", "bench@missioncontrol.invalid")
    return str(repo.create_commit(None, sig, sig, "scratch", repo.TreeBuilder().write(), [pygit2.Oid(hex=parent)]))


def claim_writes(repo: pygit2.Repository, a: str, b: str, count: int) -> float:
    """`count` times what a claim must write, without deciding anything: a lease commit (blob,
    tree, commit) and a holdings commit, as loose objects (pygit2); then, through one long-lived
    `git update-ref --stdin`, a transaction creating a lease ref and a work branch and moving a
    holdings ref. The floor of a claim in this repository format."""
    holdings = f"{SCRATCH_REF}-holdings"
    subprocess.run(["git", "--git-dir", repo.path, "update-ref", holdings, a, ZERO], check=True)
    proc = subprocess.Popen(
        ["git", "-c", "core.warnAmbiguousRefs=false", "--git-dir", repo.path, "update-ref", "--stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    sig = pygit2.Signature("bench", "bench@missioncontrol.invalid")
    empty = repo.TreeBuilder().write()
    pair = [a, b]
    gc.collect()
    start = time.perf_counter()
    for i in range(count):
        tree = repo.TreeBuilder()
        tree.insert(
            "lease.json", repo.create_blob(f'{{"n": {i}, "t": {time.time()}}}'.encode()), pygit2.enums.FileMode.BLOB
        )
        lease = repo.create_commit(None, sig, sig, f"lease {i}", tree.write(), [])
        repo.create_commit(None, sig, sig, f"holdings {i}", empty, [])
        proc.stdin.write(
            f"start\nupdate {SCRATCH_REF}-lease/{i} {lease} {ZERO}\nupdate {holdings} {pair[1]} {pair[0]}\n"
            f"update refs/heads/{SCRATCH_REF.removeprefix('refs/')}-work/{i} {a} {ZERO}\nprepare\ncommit\n".encode()
        )
        proc.stdin.flush()
        replies = [proc.stdout.readline() for _ in range(3)]
        _expect(replies == [b"start: ok\n", b"prepare: ok\n", b"commit: ok\n"], f"transaction {i}: {replies}")
        pair.reverse()
    seconds = time.perf_counter() - start
    made = [f"{SCRATCH_REF}-lease/{i}" for i in range(count)]
    made += [f"refs/heads/{SCRATCH_REF.removeprefix('refs/')}-work/{i}" for i in range(count)]
    proc.stdin.write(("start\n" + "".join(f"delete {ref}\n" for ref in [holdings, *made]) + "commit\n").encode())
    proc.stdin.close()
    _expect(proc.wait() == 0, "git update-ref --stdin exited with an error")
    return seconds


def claims_in_process(store: Store, agent: str, count: int, collect: bool = True) -> list[float]:
    """`count` sequential claims; the seconds each took."""
    per: list[float] = []
    keys: set[str] = set()
    if collect:
        gc.collect()
    for _ in range(count):
        start = time.perf_counter()
        got: Claimed = claim(store, agent, time.time(), ttl=TTL)
        per.append(time.perf_counter() - start)
        keys.add(got.lease.key)
    _expect(len(keys) == count, f"{count} claims took {len(keys)} distinct tasks")
    return per


def claims_cli(path: str, agent: str, count: int) -> float:
    keys: set[str] = set()
    cmd = [str(MC), "claim", "--agent", agent, "--ttl", str(int(TTL)), "-C", path, "-o", "json"]
    gc.collect()
    start = time.perf_counter()
    for _ in range(count):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"mc claim failed ({proc.returncode}): {proc.stderr.strip()}")
        keys.add(json.loads(proc.stdout)["task"])
    seconds = time.perf_counter() - start
    _expect(len(keys) == count, f"{count} CLI claims took {len(keys)} distinct tasks")
    return seconds


def interpreter_starts(count: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(count):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


@dataclass(slots=True)
class ClaimRuns:
    claims: int
    cli_claims: int
    repeat: int
    queued: int  # Queued tasks when the claims start
    per_claim_s: list[list[float]] = field(default_factory=list)  # in-process, one list per repeat
    timings: dict[str, Timing] = field(default_factory=dict)  # seconds per operation
    profile: Profile | None = None

    def rate(self, label: str) -> float:
        return 1e3 / self.timings[label].median_ms

    def best_rate(self, label: str) -> float:
        return 1e3 / self.timings[label].min_ms


GOAL = 0.5  # in-process claims at half the rate of a spawned `git update-ref` at least (issue 11)
IN_PROCESS = "claim, in-process"
CLI = "claim, CLI (mc claim)"
BARE = "(a) git update-ref REF NEW OLD, 1 process each"
STDIN = "(b) git update-ref --stdin, 1 long-lived process"
PYTHON = "(c) python -c pass"
FLOOR = "(d) a claim's Git writes alone"
CLAIM_ROWS = (BARE, STDIN, PYTHON, FLOOR, IN_PROCESS, CLI)
BASELINES = (BARE, STDIN, PYTHON, FLOOR)


def prepared_repo(path: str, n_tasks: int) -> tuple[Store, str]:
    """A repository of `n_tasks` Queued tasks after one reconcile pass, and the agent's id."""
    build_repo(path, n_tasks)
    store = Store(pygit2.Repository(path))
    first = Reconciler(store).run_once()
    queued = [t for t in first.transitions if t.target == Phase.QUEUED]
    _expect(len(queued) == n_tasks, f"{len(queued)} of {n_tasks} tasks were Queued")
    return store, agent_id(MISSION, AGENT)


@contextmanager
def claim_repos(n_tasks: int, copies: int) -> Iterator[Iterator[tuple[str, Store, str]]]:
    """`copies` repositories of `n_tasks` Queued tasks, one at a time: each built afresh, or, for
    a large queue, copies of one built, queued and packed once (building takes most of the time)."""
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        template = Path(tmp) / "template"
        if n_tasks > FRESH_UP_TO:
            prepared_repo(str(template), n_tasks)
            subprocess.run(["git", "-C", str(template), "repack", "-a", "-d", "-q"], check=True)

        def each() -> Iterator[tuple[str, Store, str]]:
            for i in range(copies):
                path = Path(tmp) / f"run-{i}"
                if n_tasks > FRESH_UP_TO:
                    shutil.copytree(template, path, symlinks=True)
                    yield str(path), Store(pygit2.Repository(str(path))), agent_id(MISSION, AGENT)
                else:
                    yield str(path), *prepared_repo(str(path), n_tasks)
                shutil.rmtree(path)

        yield each()


FRESH_UP_TO = 5000  # a repository of more tasks is built once and copied for each run


def run_claims(k: int, c: int, repeat: int, want_profile: bool, queue_tasks: int = 0) -> ClaimRuns:
    n_tasks = max(queue_tasks, k + c)
    runs = ClaimRuns(k, c, repeat, n_tasks)
    raw: dict[str, list[float]] = {label: [] for label in CLAIM_ROWS}
    with claim_repos(n_tasks, repeat + want_profile) as repos:
        for _, (tmp, store, agent) in zip(range(repeat), repos, strict=False):
            main = store.read(store.desired_ref)
            assert main is not None
            other = scratch_commit(store.repo, main)
            git_dir = store.repo.path
            raw[BARE].append(update_ref_processes(git_dir, main, other, k) / k)
            raw[STDIN].append(update_ref_stdin(git_dir, main, other, k) / k)
            raw[FLOOR].append(claim_writes(store.repo, main, other, k) / k)
            per = claims_in_process(store, agent, k)
            runs.per_claim_s.append(per)
            raw[IN_PROCESS].append(sum(per) / k)
            after = Reconciler(store).run_once()  # the leased tasks leave the queue
            leased = [t for t in after.transitions if t.target == Phase.LEASED]
            _expect(len(leased) == k, f"the pass after {k} claims saw {len(leased)} leases")
            queue = read_queue(store.repo, store.read(STATUS_REF)).tasks
            _expect(len(queue) == n_tasks - k, f"{len(queue)} tasks left in the queue, expected {n_tasks - k}")
            raw[CLI].append(claims_cli(tmp, agent, c) / c)
            raw[PYTHON].append(interpreter_starts(c) / c)
        runs.timings = {label: Timing(label, values) for label, values in raw.items()}
        if want_profile:
            _, store, agent = next(repos)
            runs.profile = profile(
                f"run of {k} in-process claims", lambda: claims_in_process(store, agent, k, collect=False)
            )
    return runs


# --------------------------------------------------------------------------------------------
# Latency from a commit on main to Queued
# --------------------------------------------------------------------------------------------


def phase_of(repo: pygit2.Repository, status_tip: str, name: str) -> str | None:
    tree = repo[status_tip].peel(pygit2.Commit).tree
    try:
        blob = tree[status_path(f"{MISSION}/{name}")]
    except KeyError:
        return None
    phase: str = json.loads(blob.peel(pygit2.Blob).data)["phase"]
    return phase


def read_logs(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def wait_idle(reader: pygit2.Repository, log: Path, n_tasks: int, proc: subprocess.Popen[bytes]) -> None:
    """Until the service leads, has queued every task, and has not moved the status for 0.5 s."""
    deadline = time.monotonic() + 600
    queued_at: float | None = None
    tip: str | None = None
    while time.monotonic() < deadline:
        _expect(proc.poll() is None, f"the service exited early: {log.read_text()[-2000:]}")
        now_tip = str(reader.references[STATUS_REF].target) if STATUS_REF in reader.references else None
        if now_tip != tip:
            tip, queued_at = now_tip, None
            if tip is not None and len(read_queue(reader, tip).tasks) == n_tasks:
                queued_at = time.monotonic()
        leads = any(e["event"] == "leader.acquired" for e in read_logs(log))
        if leads and queued_at is not None and time.monotonic() - queued_at > 0.5:
            return
        time.sleep(0.05)
    raise SystemExit("the service did not queue every task within 600 s")


@dataclass(slots=True)
class Series:
    gap_s: float  # pause after a task is seen Queued before the next commit
    latencies_s: list[float]

    def ms(self, q: float) -> float:
        return percentile(self.latencies_s, q) * 1e3

    @property
    def max_ms(self) -> float:
        return max(self.latencies_s) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.latencies_s) * 1e3

    @property
    def over_1s(self) -> int:
        return sum(1 for v in self.latencies_s if v > 1.0)


@dataclass(slots=True)
class LatencyResults:
    tasks: int
    commits: int
    series: list[Series]
    startup_s: float
    service_pass_ms: list[float]  # the service's own timing of the passes that queued a task
    exit_code: int


def commit_until_queued(writer: pygit2.Repository, reader: pygit2.Repository, name: str, index: int) -> float:
    """Commit task `name` on main; seconds from the ref update until the status shows it Queued."""
    commit_file(writer, task_path(name), task_yaml(name, index), f"add {name}")
    t0 = time.perf_counter()
    seen: str | None = None
    while True:
        tip = str(reader.references[STATUS_REF].target)
        if tip != seen:
            seen = tip
            if phase_of(reader, tip, name) == Phase.QUEUED:
                return time.perf_counter() - t0
        if time.perf_counter() - t0 > LATENCY_TIMEOUT_S:
            raise SystemExit(f"{name} was not Queued within {LATENCY_TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)


def run_latency(n_tasks: int, commits: int, gaps_s: list[float]) -> LatencyResults:
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        writer = build_repo(tmp, n_tasks)
        reader = pygit2.Repository(tmp)
        log = Path(tmp) / "service.log"  # in the work tree, not the Git dir the service watches
        started = time.perf_counter()
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [str(MC), "reconciler", "run", "--log-format", "json", "-C", tmp],
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        series: list[Series] = []
        try:
            wait_idle(reader, log, n_tasks, proc)
            startup = time.perf_counter() - started
            added = 0
            for gap in gaps_s:
                latencies: list[float] = []
                for _ in range(commits):
                    time.sleep(gap)
                    added += 1
                    latencies.append(commit_until_queued(writer, reader, f"late-{added:04d}", n_tasks + added))
                series.append(Series(gap, latencies))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        events = read_logs(log)
        passes = [float(e["ms"]) for e in events if e["event"] == "pass" and any("late-" in c for c in e["changes"])]
        return LatencyResults(n_tasks, commits, series, startup, passes, code)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def decile_ms(runs: ClaimRuns, last: bool) -> float:
    tenth = max(1, runs.claims // 10)
    values = [v for per in runs.per_claim_s for v in (per[-tenth:] if last else per[:tenth])]
    return statistics.mean(values) * 1e3


def ratio_text(runs: ClaimRuns, label: str) -> str:
    if label in BASELINES:
        return "(baseline)"
    rate = runs.rate(label)
    parts = [f"x{rate / runs.rate(b):.3g} of {b[1]}" for b in (BARE, STDIN, FLOOR)]
    if label == CLI:
        parts.append(f"x{rate / runs.rate(IN_PROCESS):.3g} of in-process")
    return ", ".join(parts)


def as_json(claims: ClaimRuns, latency: LatencyResults) -> dict[str, Any]:
    per = [v for run in claims.per_claim_s for v in run]
    return {
        "shape": SHAPE,
        "claims": {
            "in_process": claims.claims,
            "cli": claims.cli_claims,
            "queued": claims.queued,
            "repeat": claims.repeat,
            "per_second": {
                label: {
                    "median": round(claims.rate(label), 1),
                    "best": round(claims.best_rate(label), 1),
                    "ms_each": round(claims.timings[label].median_ms, 3),
                }
                for label in CLAIM_ROWS
            },
            "in_process_vs": {b[1]: round(claims.rate(IN_PROCESS) / claims.rate(b), 4) for b in (BARE, STDIN, FLOOR)},
            "goal_vs_a": GOAL,
            "cli_vs": {
                **{b[1]: round(claims.rate(CLI) / claims.rate(b), 4) for b in (BARE, STDIN)},
                "in_process": round(claims.rate(CLI) / claims.rate(IN_PROCESS), 4),
            },
            "in_process_claim_ms": {
                "p50": round(percentile(per, 50) * 1e3, 3),
                "p95": round(percentile(per, 95) * 1e3, 3),
                "first_tenth_mean": round(decile_ms(claims, last=False), 3),
                "last_tenth_mean": round(decile_ms(claims, last=True), 3),
            },
            "profile": None if claims.profile is None else profile_json(claims.profile),
        },
        "latency": {
            "tasks": latency.tasks,
            "commits_per_series": latency.commits,
            "poll_ms": POLL_S * 1e3,
            "service_startup_s": round(latency.startup_s, 2),
            "series": [
                {
                    "gap_ms": round(ser.gap_s * 1e3, 1),
                    "median_ms": round(ser.ms(50), 2),
                    "p95_ms": round(ser.ms(95), 2),
                    "max_ms": round(ser.max_ms, 2),
                    "min_ms": round(ser.min_ms, 2),
                    "over_1s": ser.over_1s,
                }
                for ser in latency.series
            ],
            "service_pass_median_ms": round(statistics.median(latency.service_pass_ms), 2)
            if latency.service_pass_ms
            else None,
            "service_exit_code": latency.exit_code,
        },
    }


def as_table(claims: ClaimRuns, latency: LatencyResults) -> str:
    per = [v for run in claims.per_claim_s for v in run]
    lines = [
        f"Claims: {claims.claims} in-process and {claims.cli_claims} through the CLI on a repository of "
        f"{claims.queued} Queued tasks ({SHAPE}); median and best of {claims.repeat} runs",
        "",
        f"{'measurement':<50}{'per s':>9}{'best':>9}{'ms each':>10}   ratio of rates",
    ]
    for label in CLAIM_ROWS:
        t = claims.timings[label]
        lines.append(
            f"{label:<50}{claims.rate(label):>9.1f}{claims.best_rate(label):>9.1f}{t.median_ms:>10.3f}"
            f"   {ratio_text(claims, label)}"
        )
    lines += [
        "",
        f"in-process claims reach x{claims.rate(IN_PROCESS) / claims.rate(BARE):.3g} of the rate of (a) measured in the "
        f"same run (goal: x{GOAL}); best run x{claims.best_rate(IN_PROCESS) / claims.best_rate(BARE):.3g}",
        f"in-process claim: p50 {percentile(per, 50) * 1e3:.2f} ms, p95 {percentile(per, 95) * 1e3:.2f} ms; "
        f"first tenth {decile_ms(claims, last=False):.2f} ms each, last tenth {decile_ms(claims, last=True):.2f} ms each",
    ]
    if claims.profile is not None:
        lines += profile_lines(claims.profile)
    service = (
        f"the service's own time for the passes that queued them: median {statistics.median(latency.service_pass_ms):.1f} ms"
        if latency.service_pass_ms
        else "the service logged no pass that queued them"
    )
    lines += [
        "",
        f"Latency from a commit on main to Queued: `mc reconciler run` on {latency.tasks} Queued tasks "
        f"(leading and idle {latency.startup_s:.1f} s after start); {latency.commits} commits per series, one at a "
        f"time, each polled every {POLL_S * 1e3:.0f} ms until Queued",
        "",
        f"{'pause before each commit':<26}{'median ms':>11}{'p95 ms':>10}{'max ms':>10}{'min ms':>10}{'> 1 s':>8}",
    ]
    for ser in latency.series:
        gap = "none (back to back)" if ser.gap_s == 0 else f"{ser.gap_s * 1e3:.0f} ms"
        lines.append(
            f"{gap:<26}{ser.ms(50):>11.1f}{ser.ms(95):>10.1f}{ser.max_ms:>10.1f}{ser.min_ms:>10.1f}{ser.over_1s:>8}"
        )
    lines += ["", service, f"service exit code after SIGTERM: {latency.exit_code}"]
    return "\n".join(lines)


# Defaults of a full run, and of `--quick` (a smoke run in well under a minute); given options win.
FULL: dict[str, Any] = {
    "claims": 500,
    "cli_claims": 50,
    "commits": 100,
    "latency_tasks": 1000,
    "gaps_ms": [0.0, 250.0],
    "repeat": 3,
}
QUICK: dict[str, Any] = {
    "claims": 100,
    "cli_claims": 5,
    "commits": 10,
    "latency_tasks": 200,
    "gaps_ms": [0.0],
    "repeat": 1,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--claims", type=int, help="in-process claims, K (default 500; --quick 100)")
    parser.add_argument("--cli-claims", type=int, help="claims through `mc claim`, C (default 50; --quick 5)")
    parser.add_argument(
        "--queue-tasks",
        type=int,
        default=0,
        help="Queued tasks when the claims start, N (default K + C; above 5000 the repository is built once and copied)",
    )
    parser.add_argument("--commits", type=int, help="commits for the latency test, M (default 100; --quick 10)")
    parser.add_argument(
        "--latency-tasks", type=int, help="Queued tasks while measuring latency, L (default 1000; --quick 200)"
    )
    parser.add_argument(
        "--gaps-ms",
        type=float,
        nargs="+",
        help="one latency series per pause between a task showing Queued and the next commit (default 0 250; --quick 0)",
    )
    parser.add_argument("--repeat", type=int, help="runs of the claim measurements (default 3; --quick 1)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller counts (above): a smoke run in well under a minute"
    )
    parser.add_argument("--profile", action="store_true", help="also profile K in-process claims with cProfile")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.claims, args.cli_claims, args.commits, args.latency_tasks, args.repeat) < 1:
        parser.error("every count must be at least 1")
    if args.queue_tasks < 0:
        parser.error("--queue-tasks must not be negative")
    if args.claims + args.cli_claims > REPLICAS:
        parser.error(
            f"--claims plus --cli-claims must not exceed {REPLICAS}, the agent's replicas: the claims beyond are refused"
        )
    if min(args.gaps_ms) < 0:
        parser.error("--gaps-ms must not be negative")
    if not MC.exists():
        parser.error(f"{MC} not found: run this with the virtualenv's python (.venv/bin/python)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    claims = run_claims(args.claims, args.cli_claims, args.repeat, args.profile, args.queue_tasks)
    latency = run_latency(args.latency_tasks, args.commits, [g / 1e3 for g in args.gaps_ms])
    print(json.dumps(as_json(claims, latency), indent=2) if args.json else as_table(claims, latency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
