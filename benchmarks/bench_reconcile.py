"""Benchmark the cost of a reconcile pass against the raw Git operations beneath it.

For each size N, builds a throwaway Git repository (no checkout) holding one mission with one
kluster, one agent and N tasks that need nothing and claim no paths, so that the first pass
moves every task to Queued. Then times, in the same run:

- the first pass (it declares every task and writes one status commit), once;
- a warm no-op pass (an unchanged repository, the same `Reconciler`, caches hot);
- a cold no-op pass (a fresh repository handle and `Reconciler`: what a restart costs);
- a 1-changed pass (one task retitled on main) and a 1-added pass (one task added);
- the pass that follows every pass that wrote a status commit (it recognises its own write and skips);

and the Git operations beneath them: reading the two refs, one `git update-ref` CAS, one
commit built with TreeBuilder, and reading every blob a cold pass reads.

Usage: python benchmarks/bench_reconcile.py [--sizes N ...] [--repeat R] [--profile] [--json]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import CodeType
from typing import Any, TypeVar

import pygit2
from bench_load import Timing, measure, write_tree

from reconciler.control.decide import Transition
from reconciler.control.reconcile import PassResult, Reconciler
from reconciler.gitstate.leases import read_lease, renew, write_lease_commit
from reconciler.gitstate.refs import STATUS_REF, cas, lease_ref
from reconciler.gitstate.status import read_status
from reconciler.gitstate.status_files import status_path
from reconciler.gitstate.store import Store
from reconciler.gitstate.trees import edit_tree
from reconciler.manifests.checks import all_findings, errors
from reconciler.manifests.model import agent_id
from reconciler.vocabulary.keys import shard
from reconciler.vocabulary.leases import Lease, LeaseState
from reconciler.vocabulary.phases import Phase

T = TypeVar("T")
MISSION = "bench"
AGENT = "worker"
MAIN_REF = "refs/heads/main"
SCRATCH_REF = "refs/bench/scratch"
SHAPE = "tasks need nothing and claim no paths: all Queued after the first pass"
BLOB = pygit2.enums.FileMode.BLOB
REPLICAS = 1000  # the schema's maximum: the one agent may hold (nearly) every task at once
SLOW_NOOP_MS = 20.0  # a warm no-op pass slower than this is profiled even without --profile

# --------------------------------------------------------------------------------------------
# Manifests
# --------------------------------------------------------------------------------------------

PRINCIPALS_YAML = """\
apiVersion: missioncontrol.dev/v1
kind: Principals
metadata:
  name: principals
spec:
  principals:
    - name: alice
      kind: human
  groups:
    - name: maintainers
      members: [alice]
"""

MISSION_YAML = f"""\
apiVersion: missioncontrol.dev/v1
kind: Mission
metadata:
  name: {MISSION}
spec:
  description: A synthetic mission with many ready tasks, for benchmarking reconcile passes.
  owners: [alice]
"""

KLUSTER_YAML = """\
apiVersion: missioncontrol.dev/v1
kind: Kluster
metadata:
  name: main
spec:
  outcome: Every task of the benchmark mission is done.
"""

AGENT_YAML = f"""\
apiVersion: missioncontrol.dev/v1
kind: Agent
metadata:
  name: {AGENT}
  labels:
    role: worker
spec:
  description: The one agent of the benchmark mission; it may take every task.
  runtime:
    command: ["sh", "-c", "echo working on $MC_MISSION/$MC_TASK"]
  budget:
    wallTimeSeconds: 1800
  replicas: {REPLICAS}
"""


def task_name(i: int) -> str:
    return f"task-{i:05d}"


LAYOUT = {"task_dirs": False}  # --task-dirs: tasks/<xx>/NAME.yaml, 256 subdirectories


def task_path(name: str) -> str:
    if LAYOUT["task_dirs"]:
        return f"missions/{MISSION}/tasks/{shard(name)}/{name}.yaml"
    return f"missions/{MISSION}/tasks/{name}.yaml"


def shape() -> str:
    where = "in 256 subdirectories of tasks/" if LAYOUT["task_dirs"] else "all in tasks/"
    return f"{SHAPE}; task files {where}"


def task_yaml(name: str, i: int, revision: int = 0) -> str:
    title = f"Implement step {i} of the benchmark work" + (f" (revision {revision})" if revision else "")
    return f"""\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata:
  name: {name}
  labels:
    batch: b{i // 100:03d}
spec:
  title: {title}
  description: |
    Step {i} of the synthetic benchmark mission. It needs no other task and claims no
    paths, so it is ready as soon as it is declared.
  kluster: main
  priority: {i % 10}
  agent:
    name: {AGENT}
  retries:
    maxAttempts: 3
  timeoutSeconds: 1800
"""


def manifests(n_tasks: int) -> dict[str, str]:
    """Every file of the repository, by path."""
    base = f"missions/{MISSION}"
    files = {
        "principals.yaml": PRINCIPALS_YAML,
        f"{base}/mission.yaml": MISSION_YAML,
        f"{base}/klusters/main.yaml": KLUSTER_YAML,
        f"{base}/agents/{AGENT}.yaml": AGENT_YAML,
    }
    for i in range(1, n_tasks + 1):
        files[task_path(task_name(i))] = task_yaml(task_name(i), i)
    return files


# --------------------------------------------------------------------------------------------
# Git repository
# --------------------------------------------------------------------------------------------


def signature() -> pygit2.Signature:
    return pygit2.Signature("Bench", "bench@localhost", int(time.time()), 0)


def build_repo(path: str, n_tasks: int) -> pygit2.Repository:
    """An on-disk repository (no checkout) with every manifest in one commit on `main`."""
    repo = pygit2.init_repository(path, initial_head="main")
    blobs = {p: repo.create_blob(text.encode()) for p, text in manifests(n_tasks).items()}
    sig = signature()
    repo.create_commit(MAIN_REF, sig, sig, f"bench: {n_tasks} tasks", write_tree(repo, blobs), [])
    return repo


def _put(repo: pygit2.Repository, tree: pygit2.Tree | None, parts: list[str], blob: pygit2.Oid) -> pygit2.Oid:
    """`tree` with the blob at `parts` inserted or replaced (the siblings are reused as they are)."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    if len(parts) == 1:
        builder.insert(parts[0], blob, pygit2.enums.FileMode.BLOB)
    else:
        sub = tree[parts[0]] if tree is not None and parts[0] in tree else None
        sub_tree = sub if isinstance(sub, pygit2.Tree) else None
        builder.insert(parts[0], _put(repo, sub_tree, parts[1:], blob), pygit2.enums.FileMode.TREE)
    return builder.write()


def commit_file(repo: pygit2.Repository, path: str, text: str, message: str) -> str:
    """Commit one added or changed file on `main`, as a person pushing to main would; returns the commit."""
    parent = repo.references[MAIN_REF].peel(pygit2.Commit)
    tree = _put(repo, parent.tree, path.split("/"), repo.create_blob(text.encode()))
    sig = signature()
    return str(repo.create_commit(MAIN_REF, sig, sig, message, tree, [parent.id]))


def read_all_blobs(tree: pygit2.Tree) -> int:
    """Walk a tree with bare pygit2 and read every blob; returns the bytes read."""
    total = 0
    for obj in tree:
        if isinstance(obj, pygit2.Tree):
            total += read_all_blobs(obj)
        elif isinstance(obj, pygit2.Blob):
            total += len(obj.data)
    return total


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hotspot:
    function: str
    calls: str
    tottime_ms: float
    cumtime_ms: float


@dataclass(frozen=True, slots=True)
class Profile:
    label: str
    total_ms: float
    top: list[Hotspot]  # any function, by time of its own
    stages: list[Hotspot]  # MissionControl's own functions, by cumulative time: where the time goes


def _where(code: CodeType | str) -> str:
    if isinstance(code, str):
        return code  # a built-in, e.g. "<method 'poll' of 'select.poll' objects>"
    file_name = code.co_filename
    for marker in ("site-packages/", os.getcwd() + "/"):
        if marker in file_name:
            file_name = file_name.split(marker, 1)[1]
            break
    else:
        if "/lib/python3" in file_name:  # the standard library: "json/encoder.py"
            file_name = file_name.split("/lib/python3", 1)[1].split("/", 1)[1]
    return f"{file_name}:{code.co_firstlineno}({code.co_name})"


def profile(label: str, fn: Callable[[], object], top: int = 12, stages: int = 8) -> Profile:
    """One run of `fn` under cProfile: the functions with the most time of their own, and the
    project functions with the most cumulative time."""
    prof = cProfile.Profile()
    gc.collect()
    start = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    total = time.perf_counter() - start
    entries = sorted(prof.getstats(), key=lambda e: -e.inlinetime)[:top]
    hot = [Hotspot(_where(e.code), str(e.callcount), e.inlinetime * 1e3, e.totaltime * 1e3) for e in entries]
    ours = [e for e in prof.getstats() if not isinstance(e.code, str) and "/reconciler/" in e.code.co_filename]
    ours = sorted(ours, key=lambda e: -e.totaltime)[:stages]
    cum = [Hotspot(_where(e.code), str(e.callcount), e.inlinetime * 1e3, e.totaltime * 1e3) for e in ours]
    return Profile(label, total * 1e3, hot, cum)


def profile_lines(p: Profile) -> list[str]:
    lines = ["", f"cProfile, one {p.label}: {p.total_ms:.1f} ms under the profiler"]
    for title, rows in (("top by own time", p.top), ("MissionControl functions by cumulative time", p.stages)):
        lines.append(f"  {title}:")
        lines.append(f"  {'own ms':>9}{'cum ms':>10}{'calls':>10}  function")
        lines += [f"  {h.tottime_ms:>9.2f}{h.cumtime_ms:>10.2f}{h.calls:>10}  {h.function}" for h in rows]
    return lines


def profile_json(p: Profile) -> dict[str, Any]:
    def rows(hs: list[Hotspot]) -> list[dict[str, Any]]:
        return [
            {
                "function": h.function,
                "calls": h.calls,
                "tottime_ms": round(h.tottime_ms, 2),
                "cumtime_ms": round(h.cumtime_ms, 2),
            }
            for h in hs
        ]

    return {"pass": p.label, "total_ms": round(p.total_ms, 2), "top": rows(p.top), "stages": rows(p.stages)}


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark sanity check failed: {what}")


def _targets(transitions: list[Transition]) -> list[Phase]:
    return [t.target for t in transitions]


@dataclass(slots=True)
class SizeResults:
    n_tasks: int
    repeat: int
    build_s: float
    first_pass_ms: float
    first_transitions: int
    settle_pass_ms: float
    timings: dict[str, Timing]
    profiles: list[Profile] = field(default_factory=list)
    memory: tuple[float, float] = (0.0, 0.0)  # peak MB: a reconciler restart, and `import pygit2`

    def ratio(self, label: str, *baselines: str) -> float:
        return self.timings[label].median_ms / sum(self.timings[b].median_ms for b in baselines)


# Labels, in print order: the baselines (a) to (d), then the passes.
READ_REFS = "(a) read main + status refs"
CAS = "(b) git update-ref CAS, one process"
CAS_SESSION = "(g) CAS through the process's git"
COMMIT_N = "(c) status commit, flat N-entry tree"
COMMIT_SHARD = "(f) status commit, sharded tree"
READ_ALL = "(d) read every blob (main+status)"
COMMIT_SMALL = "commit: 1-file tree"
NOOP_WARM = "no-op pass, warm"
NOOP_COLD = "no-op pass, cold (restart)"
CHANGED = "1-changed pass (retitle)"
ADDED = "1-added pass (new task)"
CONFIRM = "pass after its own write (skipped)"
WALK_REFS = "(e) walk every ref, N live leases"
LEASED_NOOP = "no-op pass, warm, N live leases"
RENEWED = "1-renewed pass, N live leases"
PACKED_NOOP = "no-op pass, N live leases packed"
CHANGED_NOW = "1-changed pass, vs the sharded commit"
ADDED_NOW = "1-added pass, vs the sharded commit"
BASELINES = (READ_REFS, CAS, CAS_SESSION, COMMIT_N, COMMIT_SHARD, READ_ALL, COMMIT_SMALL, WALK_REFS)
RATIOS: dict[str, tuple[str, ...]] = {
    NOOP_WARM: (READ_REFS,),
    NOOP_COLD: (READ_ALL,),
    CHANGED: (CAS, COMMIT_N),
    CHANGED_NOW: (CAS, COMMIT_SHARD),
    ADDED: (CAS, COMMIT_N),
    ADDED_NOW: (CAS, COMMIT_SHARD),
    CONFIRM: (READ_REFS,),
    LEASED_NOOP: (READ_REFS,),
    RENEWED: (CAS, COMMIT_SHARD),
    PACKED_NOOP: (READ_REFS,),
}


def _letters(labels: tuple[str, ...]) -> str:
    return "+".join(label[1] for label in labels)


def measure_cas(repo: pygit2.Repository, main: str, status: str, repeat: int) -> tuple[Timing, Timing]:
    """A compare-and-swap of a scratch ref: one git process each, and through this process's git."""
    repo.references.create(SCRATCH_REF, main, force=True)
    flip = [main, status]

    def one_cas() -> bool:  # the baseline: one `git update-ref REF NEW OLD` process
        subprocess.run(["git", "--git-dir", repo.path, "update-ref", SCRATCH_REF, flip[1], flip[0]], check=True)
        flip.reverse()
        return True

    def session_cas() -> bool:  # what a pass's own compare-and-swap costs: this process's git session
        cas(repo, SCRATCH_REF, flip[1], flip[0])
        flip.reverse()
        return True

    cas_t, _ = measure(CAS, one_cas, repeat, inner=20)
    session_t, _ = measure(CAS_SESSION, session_cas, repeat, inner=20)
    _expect(str(repo.references[SCRATCH_REF].target) == flip[0], "the scratch ref did not follow the CAS loop")

    return cas_t, session_t


def measure_baselines(store: Store, path: str, repeat: int, n_tasks: int) -> dict[str, Timing]:
    """The Git operations beneath a pass, on the same repository."""
    repo = store.repo
    main, status = repo.references[MAIN_REF].target, repo.references[STATUS_REF].target

    def read_refs() -> tuple[str, str]:
        return str(repo.references[MAIN_REF].target), str(repo.references[STATUS_REF].target)

    read_refs_t, _ = measure(READ_REFS, read_refs, repeat, inner=1000)

    cas_t, session_t = measure_cas(repo, str(main), str(status), repeat)

    sig = pygit2.Signature("Bench", "bench@localhost", 1_700_000_000, 0)
    counter = [0]

    def small_commit() -> pygit2.Oid:
        counter[0] += 1
        builder = repo.TreeBuilder()
        builder.insert("lease.json", repo.create_blob(f'{{"n": {counter[0]}}}\n'.encode()), pygit2.enums.FileMode.BLOB)
        return repo.create_commit(None, sig, sig, "bench", builder.write(), [status])

    commit_small_t, _ = measure(COMMIT_SMALL, small_commit, repeat, inner=20)

    status_root = repo[status].peel(pygit2.Commit).tree
    flat = repo.TreeBuilder()  # the mission directory as it was before sharding: N entries
    for i in range(1, n_tasks + 1):
        flat.insert(f"{task_name(i)}.json", status_root[status_path(f"{MISSION}/{task_name(i)}")].id, BLOB)
    flat_root = repo.TreeBuilder(status_root)
    flat_root.insert(MISSION, flat.write(), pygit2.enums.FileMode.TREE)
    flat_tree = repo[flat_root.write()].peel(pygit2.Tree)
    mission_tree = flat_tree[MISSION]
    assert isinstance(mission_tree, pygit2.Tree)

    def flat_status_commit() -> pygit2.Oid:
        # What the smallest status commit wrote before sharding: one blob into the N-entry tree.
        counter[0] += 1
        blob = repo.create_blob(f'{{"n": {counter[0]}}}\n'.encode())
        mission = repo.TreeBuilder(mission_tree)
        mission.insert(f"{task_name(1)}.json", blob, BLOB)
        root = repo.TreeBuilder(flat_tree)
        root.insert(MISSION, mission.write(), pygit2.enums.FileMode.TREE)
        return repo.create_commit(None, sig, sig, "bench", root.write(), [status])

    def status_commit_now() -> pygit2.Oid:
        # What the smallest status commit writes now: one blob into its shard.
        counter[0] += 1
        blob = repo.create_blob(f'{{"n": {counter[0]}}}\n'.encode())
        tree = edit_tree(repo, status_root, {status_path(f"{MISSION}/{task_name(1)}"): blob})
        return repo.create_commit(None, sig, sig, "bench", tree, [status])

    commit_n_t, _ = measure(COMMIT_N, flat_status_commit, repeat, inner=20)
    commit_shard_t, _ = measure(COMMIT_SHARD, status_commit_now, repeat, inner=20)

    def read_all() -> int:
        fresh = pygit2.Repository(path)  # a cold handle, as a restarted reconciler has
        main_tree = fresh[main].peel(pygit2.Commit).tree
        status_tree = fresh[status].peel(pygit2.Commit).tree
        return read_all_blobs(main_tree) + read_all_blobs(status_tree)

    read_all_t, _ = measure(READ_ALL, read_all, repeat)
    repo.references.delete(SCRATCH_REF)
    measured = (read_refs_t, cas_t, session_t, commit_small_t, commit_n_t, commit_shard_t, read_all_t)
    return {t.label: t for t in measured}


def timed_pass(rec: Reconciler) -> tuple[float, PassResult]:
    gc.collect()
    start = time.perf_counter()
    result = rec.run_once()
    return time.perf_counter() - start, result


def retitle(writer: pygit2.Repository, n_tasks: int, r: int) -> None:
    """Commit a new title for one task on main (a different task and title for each `r`)."""
    i = 1 + (r * 7919) % n_tasks
    commit_file(writer, task_path(task_name(i)), task_yaml(task_name(i), i, revision=r + 1), f"retitle {i}")


def measure_writes(rec: Reconciler, writer: pygit2.Repository, n_tasks: int, repeat: int) -> dict[str, Timing]:
    """Passes after a one-task commit on main (the commit itself untimed), and the pass after each."""
    changed: list[float] = []
    added: list[float] = []
    confirm: list[float] = []
    for r in range(repeat):
        retitle(writer, n_tasks, r)
        seconds, result = timed_pass(rec)
        _expect(result.status_commit is not None and not result.transitions, "a retitle did not write only status")
        _expect(rec.snapshot is not None and rec.snapshot.parsed == 1, "a retitle reparsed more than one manifest")
        changed.append(seconds)
        seconds, result = timed_pass(rec)
        _expect(result.status_commit is None and result.skipped, "the pass after a retitle did not skip")
        confirm.append(seconds)

        name = f"added-{r:03d}"
        commit_file(writer, task_path(name), task_yaml(name, n_tasks + r + 1), f"add {name}")
        seconds, result = timed_pass(rec)
        _expect(_targets(result.transitions) == [Phase.PENDING, Phase.QUEUED], f"{name}: {result.transitions}")
        added.append(seconds)
        seconds, result = timed_pass(rec)
        _expect(result.status_commit is None and result.skipped, "the pass after an addition did not skip")
        confirm.append(seconds)
    _expect(len(read_status(rec.store).tasks) == n_tasks + repeat, "the status does not hold every task")
    return {
        CHANGED: Timing(CHANGED, changed),
        CHANGED_NOW: Timing(CHANGED_NOW, changed),
        ADDED: Timing(ADDED, added),
        ADDED_NOW: Timing(ADDED_NOW, added),
        CONFIRM: Timing(CONFIRM, confirm),
    }


def first_pass(rec: Reconciler, n_tasks: int) -> tuple[float, int, float]:
    """Time the pass that declares every task, and the one after it; check what they did."""
    first_s, first = timed_pass(rec)
    _expect(first.status_commit is not None, "the first pass wrote no status commit")
    _expect(len(first.transitions) == 2 * n_tasks, f"first pass made {len(first.transitions)} transitions")
    _expect(_targets(first.transitions).count(Phase.QUEUED) == n_tasks, "not every task was Queued")
    assert rec.snapshot is not None
    bad = errors(all_findings(rec.snapshot))
    _expect(not bad, f"the generated manifests have {len(bad)} error findings, e.g. {bad[:1]}")
    settle_s, settle = timed_pass(rec)  # its own write is its next input: recognised, skipped
    _expect(settle.status_commit is None and settle.skipped, "the pass after the first one did not skip")
    return first_s, len(first.transitions), settle_s


def lease_every_task(store: Store, n_tasks: int) -> None:
    """A live lease on every task (one shared lease commit), each its own loose ref, as claims
    leave them until `git gc` packs them."""
    now = time.time()
    lease = Lease(f"{MISSION}/*", 1, agent_id(MISSION, AGENT), None, LeaseState.ACTIVE, now, now, now + 3600, 3600)
    commit = write_lease_commit(store.repo, lease, None, "benchmark lease")
    lines = "".join(f"create {lease_ref(f'{MISSION}/{task_name(i)}')} {commit}\n" for i in range(1, n_tasks + 1))
    git = ["git", "--git-dir", store.repo.path]
    subprocess.run([*git, "update-ref", "--stdin"], input=lines, text=True, check=True)


def renew_one(store: Store, n_tasks: int, r: int) -> None:
    """Renew one task's lease, as its holder's heartbeat does (a different task for each `r`)."""
    key = f"{MISSION}/{task_name(1 + (r * 7919) % n_tasks)}"
    tip, lease = read_lease(store, key)
    assert tip is not None
    assert lease is not None
    renew(store, replace(lease, key=key).renewed(time.time()), tip, f"lease {key}: benchmark renewal")


def measure_leased_noop(rec: Reconciler, store: Store, n_tasks: int, repeat: int) -> dict[str, Timing]:
    """A no-op pass once every task holds a live lease, against walking all those refs; passes
    that each find one lease renewed (the renewal untimed); then a no-op pass once `git
    pack-refs` has packed them."""
    lease_every_task(store, n_tasks)
    result = rec.run_once()
    _expect(len(result.transitions) >= n_tasks, f"leasing every task made {len(result.transitions)} transitions")
    time.sleep(0.2)  # past the window in which fresh ref timestamps are not trusted

    def walk() -> int:
        return sum(1 for ref in store.repo.references.iterator() if ref.name.startswith("refs/mc/leases/"))

    walked, count = measure(WALK_REFS, walk, repeat, inner=5)
    _expect(count >= n_tasks, f"walked {count} lease refs")
    noop, noop_result = measure(LEASED_NOOP, rec.run_once, repeat, inner=100)
    _expect(noop_result.skipped and noop_result.status_commit is None, "a no-op pass with leases did not skip")
    renew_one(store, n_tasks, repeat)  # the first decision after leasing every task looks at them all again
    rec.run_once()
    renewed: list[float] = []
    for r in range(repeat):
        renew_one(store, n_tasks, r)
        seconds, result = timed_pass(rec)
        # the first renewal says the agent started: Leased -> Running, one status commit
        _expect(not result.skipped and len(result.transitions) <= 1, f"a pass after a renewal: {result}")
        renewed.append(seconds)
    subprocess.run(["git", "--git-dir", store.repo.path, "pack-refs", "--all"], check=True)
    rec.run_once()  # packed-refs changed: one walk
    time.sleep(0.2)
    packed, packed_result = measure(PACKED_NOOP, rec.run_once, repeat, inner=100)
    _expect(packed_result.skipped and packed_result.status_commit is None, "a no-op pass, refs packed, did not skip")
    return {WALK_REFS: walked, LEASED_NOOP: noop, RENEWED: Timing(RENEWED, renewed), PACKED_NOOP: packed}


PEAK = """
import sys
try:
    exec(compile(sys.argv[1], "<bench>", "exec"))
finally:
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("PEAK", int(hwm.split()[1]), file=sys.stderr)
"""


def peak_mb(code: str, *args: str) -> float:
    """The peak resident memory of a fresh interpreter running `code`, in MB (VmHWM, which
    starts again at exec, unlike the rusage of a forked child)."""
    proc = subprocess.run([sys.executable, "-c", PEAK, code, *args], capture_output=True, text=True, check=False)
    line = next((x for x in proc.stderr.splitlines() if x.startswith("PEAK ")), None)
    _expect(proc.returncode == 0 and line is not None, f"{code!r} failed: {proc.stderr[-500:]}")
    assert line is not None
    return int(line.split()[1]) / 1024


def measure_memory(tmp: str) -> tuple[float, float]:
    """Peak memory of a reconciler restart (`mc reconcile`, one pass over every task) against an
    interpreter that only imports pygit2, in the same run."""
    floor = peak_mb("import pygit2")
    restart = "from cli.entry import main; sys.argv = ['mc', 'reconcile', '-C', sys.argv[2]]; main()"
    return peak_mb(restart, tmp), floor


def run(n_tasks: int, repeat: int, tmp: str, want_profile: bool) -> SizeResults:
    start = time.perf_counter()
    writer = build_repo(tmp, n_tasks)  # what people push with; the reconciler has its own handle
    build_s = time.perf_counter() - start
    store = Store(pygit2.Repository(tmp))
    rec = Reconciler(store)
    first_s, first_transitions, settle_s = first_pass(rec, n_tasks)

    timings = measure_baselines(store, tmp, repeat, n_tasks)
    warm, warm_result = measure(NOOP_WARM, rec.run_once, repeat, inner=100)
    _expect(warm_result.skipped and warm_result.status_commit is None, "a warm no-op pass did not skip")

    def cold_pass() -> PassResult:
        return Reconciler(Store(pygit2.Repository(tmp))).run_once()

    cold, cold_result = measure(NOOP_COLD, cold_pass, repeat)
    _expect(cold_result.status_commit is None and not cold_result.transitions, "a cold no-op pass wrote something")
    timings |= {NOOP_WARM: warm, NOOP_COLD: cold, **measure_writes(rec, writer, n_tasks, repeat)}
    timings |= measure_leased_noop(rec, store, n_tasks, repeat)
    results = SizeResults(n_tasks, repeat, build_s, first_s * 1e3, first_transitions, settle_s * 1e3, timings)
    results.memory = measure_memory(tmp)

    if want_profile or warm.median_ms > SLOW_NOOP_MS:
        rec.run_once()
        results.profiles.append(profile(f"{NOOP_WARM} (N={n_tasks})", rec.run_once))
    if want_profile:
        results.profiles.append(profile(f"{NOOP_COLD} (N={n_tasks})", cold_pass))
        retitle(writer, n_tasks, repeat)
        results.profiles.append(profile(f"{CHANGED} (N={n_tasks})", rec.run_once))
        results.profiles.append(profile(f"{CONFIRM} (N={n_tasks})", rec.run_once))
    return results


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def ratio_text(r: SizeResults, label: str) -> str:
    if label == COMMIT_SMALL:
        return "(for scale: a lease-sized commit)"
    if label == CAS_SESSION:
        return "(for scale: a pass's own CAS, one long-lived git update-ref --stdin)"
    if label in BASELINES:
        return "(baseline)"
    bases = RATIOS[label]
    return f"x{r.ratio(label, *bases):.3g} vs {_letters(bases)}"


def as_json(results: list[SizeResults]) -> dict[str, Any]:
    return {
        "shape": shape(),
        "sizes": [
            {
                "tasks": r.n_tasks,
                "repeat": r.repeat,
                "build_repo_s": round(r.build_s, 3),
                "first_pass_ms": round(r.first_pass_ms, 2),
                "first_pass_transitions": r.first_transitions,
                "pass_after_first_ms": round(r.settle_pass_ms, 2),
                "timings": {
                    t.label: {
                        "median_ms": round(t.median_ms, 4),
                        "min_ms": round(t.min_ms, 4),
                        **(
                            {"ratio": round(r.ratio(t.label, *RATIOS[t.label]), 4), "vs": _letters(RATIOS[t.label])}
                            if t.label in RATIOS
                            else {}
                        ),
                    }
                    for t in r.timings.values()
                },
                "profiles": [profile_json(p) for p in r.profiles],
                "peak_memory_mb": {"reconciler_restart": round(r.memory[0], 1), "import_pygit2": round(r.memory[1], 1)},
            }
            for r in results
        ],
    }


def as_table(results: list[SizeResults]) -> str:
    lines: list[str] = []
    for r in results:
        lines += [
            f"N = {r.n_tasks} tasks ({shape()}); repository built in {r.build_s:.2f} s",
            f"first pass: {r.first_pass_ms:.1f} ms, {r.first_transitions} transitions, one status commit (1 run); "
            f"the pass after it (its own write, skipped): {r.settle_pass_ms:.1f} ms",
            f"median and min of {r.repeat} runs",
            "",
            f"{'measurement':<40}{'median ms':>12}{'min ms':>12}   ratio of medians",
        ]
        for label in (*BASELINES, *RATIOS):
            t = r.timings[label]
            lines.append(f"{label:<40}{t.median_ms:>12.4g}{t.min_ms:>12.4g}   {ratio_text(r, label)}")
        rss, floor = r.memory
        lines.append(
            f"peak memory of a reconciler restart (mc reconcile): {rss:.0f} MB; "
            f"python -c 'import pygit2': {floor:.0f} MB (x{rss / floor:.3g})"
        )
        for p in r.profiles:
            lines += profile_lines(p)
        lines.append("")
    return "\n".join(lines).rstrip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000], help="task counts (default 1000 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--profile", action="store_true", help="also profile one pass of each kind with cProfile")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument(
        "--task-dirs", action="store_true", help="spread the task files over 256 subdirectories of tasks/"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or min(args.sizes) < 1:
        parser.error("--sizes and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    LAYOUT["task_dirs"] = args.task_dirs
    results: list[SizeResults] = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
            results.append(run(n, args.repeat, tmp, args.profile))
    print(json.dumps(as_json(results), indent=2) if args.json else as_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
