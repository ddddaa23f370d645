"""Benchmark loading and validating a large mission repository straight from Git.

Builds a throwaway Git repository (no checkout) holding one mission with N task manifests,
then times, against the floor of reading the same blobs with bare pygit2:

- a full load (parse + per-file checks) and a full load followed by `all_findings`;
- a reload of the same tree on top of the previous snapshot;
- a reload of a commit that changed exactly one task file.

Usage: python benchmarks/bench_load.py [--tasks N] [--repeat R] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pygit2
import yaml

from reconciler.manifests.checks import all_findings, errors
from reconciler.manifests.disk_cache import ManifestCache
from reconciler.manifests.findings import Finding
from reconciler.manifests.loader import GitSource, Snapshot, load

T = TypeVar("T")
MISSION = "bench"
KLUSTERS = ("backend", "frontend", "docs")
AGENT_ROLES = {"coder": "coder", "tester": "tester", "writer": "writer", "reviewer": "reviewer"}
POLICY = "release"

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
      email: alice@example.com
    - name: bob
      kind: human
      email: bob@example.com
    - name: ci
      kind: ci
  groups:
    - name: maintainers
      members: [alice, bob]
"""

MISSION_YAML = """\
apiVersion: missioncontrol.dev/v1
kind: Mission
metadata:
  name: {mission}
spec:
  description: A synthetic mission with many tasks, for benchmarking the loader.
  owners: [alice]
"""

KLUSTER_YAML = """\
apiVersion: missioncontrol.dev/v1
kind: Kluster
metadata:
  name: {name}
spec:
  outcome: Every {name} task of the benchmark mission is done.
"""

AGENT_YAML = """\
apiVersion: missioncontrol.dev/v1
kind: Agent
metadata:
  name: {name}
  labels:
    role: {role}
spec:
  description: The {name} agent of the benchmark mission.
  runtime:
    command: ["sh", "-c", "echo {name} working on $MC_MISSION/$MC_TASK"]
  permissions:
    paths: ["src/**", "tests/**", "docs/**"]
  budget:
    wallTimeSeconds: 1800
"""

POLICY_YAML = """\
apiVersion: missioncontrol.dev/v1
kind: Policy
metadata:
  name: {name}
spec:
  version: 1
  state: active
  rules:
    - name: publish-needs-a-maintainer
      action: publish
      require:
        approvals: 1
        groups: [maintainers]
"""

OUTPUTS_YAML = """\
  outputs:
    schema:
      type: object
      required: [summary]
      properties:
        summary: {type: string, minLength: 1}
        changed:
          type: array
          items: {type: string}
"""


def task_name(i: int) -> str:
    return f"task-{i:05d}"


def task_needs(i: int) -> list[str]:
    """A DAG: most tasks need their predecessor, some also one ten back; never a later task."""
    needs = [task_name(i - 1)] if i > 1 and i % 4 != 1 else []
    if i > 10 and i % 7 == 0:
        needs.append(task_name(i - 10))
    return needs


def task_yaml(i: int, revision: int = 0) -> str:
    kluster = KLUSTERS[i % len(KLUSTERS)]
    title = f"Implement step {i} of the {kluster} work" + (f" (revision {revision})" if revision else "")
    lines = [
        "apiVersion: missioncontrol.dev/v1",
        "kind: Task",
        "metadata:",
        f"  name: {task_name(i)}",
        "  labels:",
        f"    area: {kluster}",
        f"    batch: b{i // 100:03d}",
        "spec:",
        f"  title: {title}",
        "  description: |",
        f"    Step {i} of the synthetic benchmark mission. Change the files of module {i % 50}",
        "    so that its tests pass, and report a one-line summary of what changed.",
        f"  kluster: {kluster}",
        f"  priority: {i % 100}",
    ]
    needs = task_needs(i)
    if needs:
        lines.append(f"  needs: [{', '.join(needs)}]")
    if i % 11 == 0:
        lines += ["  agent:", "    name: reviewer"]
    else:
        role = ("coder", "tester", "writer")[i % 3]
        lines += ["  agent:", "    selector:", "      matchLabels:", f"        role: {role}"]
    lines.append(f'  paths: ["src/module-{i % 50:02d}/**", "tests/module-{i % 50:02d}/**"]')
    lines += ["  retries:", "    maxAttempts: 3", f"  timeoutSeconds: {600 + (i % 6) * 300}"]
    if i % 25 == 0:
        lines += ["  approval:", f"    policy: {POLICY}"]
    text = "\n".join(lines) + "\n"
    if i % 5 == 0:
        text += OUTPUTS_YAML
    return text


def manifests(n_tasks: int) -> dict[str, str]:
    """Every file of the repository, by path."""
    base = f"missions/{MISSION}"
    files = {"principals.yaml": PRINCIPALS_YAML, f"{base}/mission.yaml": MISSION_YAML.format(mission=MISSION)}
    for name in KLUSTERS:
        files[f"{base}/klusters/{name}.yaml"] = KLUSTER_YAML.format(name=name)
    for name, role in AGENT_ROLES.items():
        files[f"{base}/agents/{name}.yaml"] = AGENT_YAML.format(name=name, role=role)
    files[f"{base}/policies/{POLICY}.yaml"] = POLICY_YAML.format(name=POLICY)
    for i in range(1, n_tasks + 1):
        files[f"{base}/tasks/{task_name(i)}.yaml"] = task_yaml(i)
    return files


# --------------------------------------------------------------------------------------------
# Git repository
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchRepo:
    repo: pygit2.Repository
    first: pygit2.Commit
    second: pygit2.Commit
    changed_path: str
    files: int
    size: int


def write_tree(repo: pygit2.Repository, blobs: dict[str, pygit2.Oid]) -> pygit2.Oid:
    """Write nested trees for `blobs` (path -> blob id) and return the root tree id."""
    nested: dict[str, Any] = {}
    for path, oid in blobs.items():
        *dirs, name = path.split("/")
        node = nested
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = oid
    return _write_node(repo, nested)


def _write_node(repo: pygit2.Repository, node: dict[str, Any]) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    for name, value in node.items():
        if isinstance(value, dict):
            builder.insert(name, _write_node(repo, value), pygit2.enums.FileMode.TREE)
        else:
            builder.insert(name, value, pygit2.enums.FileMode.BLOB)
    return builder.write()


def commit(repo: pygit2.Repository, tree: pygit2.Oid, parents: list[pygit2.Oid], message: str) -> pygit2.Commit:
    sig = pygit2.Signature("Bench", "bench@localhost", 1_700_000_000, 0)
    oid = repo.create_commit("HEAD", sig, sig, message, tree, parents)
    found = repo[oid]
    assert isinstance(found, pygit2.Commit)
    return found


def build_repo(path: str, n_tasks: int) -> BenchRepo:
    """A bare-bones on-disk repository: one commit with every manifest, one changing a task."""
    repo = pygit2.init_repository(path, initial_head="main")
    files = manifests(n_tasks)
    blobs = {p: repo.create_blob(text.encode()) for p, text in files.items()}
    first = commit(repo, write_tree(repo, blobs), [], f"bench: {n_tasks} tasks")
    changed_i = max(1, n_tasks // 2)
    changed_path = f"missions/{MISSION}/tasks/{task_name(changed_i)}.yaml"
    blobs[changed_path] = repo.create_blob(task_yaml(changed_i, revision=2).encode())
    second = commit(repo, write_tree(repo, blobs), [first.id], f"bench: retitle {task_name(changed_i)}")
    size = sum(len(text.encode()) for text in files.values())
    return BenchRepo(repo, first, second, changed_path, len(files), size)


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    runs_s: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_s) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.runs_s) * 1e3


def measure(label: str, fn: Callable[[], T], repeat: int, inner: int = 1) -> tuple[Timing, T]:
    """Run `fn` `inner` times per run, `repeat` runs (a garbage collection before each); keep the mean per call."""
    runs: list[float] = []
    result: T | None = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(inner):
            result = fn()
        runs.append((time.perf_counter() - start) / inner)
    assert result is not None
    return Timing(label, runs), result


def read_all_blobs(tree: pygit2.Tree) -> int:
    """The floor: walk the tree with bare pygit2 and read every blob; returns the bytes read."""
    total = 0
    for obj in tree:
        if isinstance(obj, pygit2.Tree):
            total += read_all_blobs(obj)
        elif isinstance(obj, pygit2.Blob):
            total += len(obj.data)
    return total


def read_and_parse(tree: pygit2.Tree) -> int:
    """Issue 11's floor for a cold load: the bare read plus a `yaml.CSafeLoader` parse of every blob."""
    count = 0
    for obj in tree:
        if isinstance(obj, pygit2.Tree):
            count += read_and_parse(obj)
        elif isinstance(obj, pygit2.Blob):
            yaml.load(obj.data, Loader=yaml.CSafeLoader)
            count += 1
    return count


def load_with_cache(repo: pygit2.Repository, tree: pygit2.Tree, directory: Path) -> Snapshot:
    """A restart: a cold load through the disk cache a previous process saved under `directory`."""
    return load(GitSource(repo, tree), cache=ManifestCache(directory))


def load_and_check(
    repo: pygit2.Repository, tree: pygit2.Tree, previous: Snapshot | None
) -> tuple[Snapshot, list[Finding]]:
    snap = load(GitSource(repo, tree), previous)
    return snap, all_findings(snap)


def require_valid(findings: list[Finding]) -> None:
    bad = errors(findings)
    if bad:
        shown = "\n".join(f"  {f.file}:{f.line}:{f.column} {f.field}: {f.message} [{f.rule}]" for f in bad[:5])
        raise SystemExit(f"the generated manifests are invalid: {len(bad)} error findings, first ones:\n{shown}")


@dataclass(slots=True)
class Results:
    n_tasks: int
    repeat: int
    manifests: int
    size: int
    build_s: float
    timings: list[Timing]
    findings: int
    one_changed_parsed: int
    one_changed_reused: int

    def baseline(self) -> Timing:
        return self.timings[0]

    def get(self, label: str) -> Timing:
        return next(t for t in self.timings if t.label == label)

    def ratio(self, t: Timing) -> float:
        return t.median_ms / self.baseline().median_ms


def measure_full(bench: BenchRepo, repeat: int) -> tuple[list[Timing], Snapshot, list[Finding]]:
    """The floor, a full load with and without `all_findings`, and `all_findings` alone."""
    repo, tree = bench.repo, bench.first.tree
    base, nbytes = measure("bare pygit2 read", lambda: read_all_blobs(tree), repeat)
    assert nbytes == bench.size, (nbytes, bench.size)
    load_only, _ = measure("full load", lambda: load(GitSource(repo, tree)), repeat)
    full, (snap, findings) = measure("full load+validate", lambda: load_and_check(repo, tree, None), repeat)
    require_valid(findings)
    if snap.parsed != bench.files:
        raise SystemExit(f"full load parsed {snap.parsed} files, expected {bench.files}")
    checks, _ = measure("all_findings alone", lambda: all_findings(snap), repeat)
    parse, _ = measure("bare read + CSafeLoader", lambda: read_and_parse(tree), repeat)
    directory = Path(repo.path) / "mc-cache"
    cache = ManifestCache(directory)
    load(GitSource(repo, tree), cache=cache)
    cache.save()
    warm, warm_snap = measure("restart, warm disk cache", lambda: load_with_cache(repo, tree, directory), repeat)
    if warm_snap.cached != bench.files:
        raise SystemExit(f"a load through the warm cache took {warm_snap.cached} files from it, expected {bench.files}")
    return [base, load_only, full, checks, parse, warm], snap, findings


def measure_reloads(bench: BenchRepo, snap: Snapshot, repeat: int) -> tuple[list[Timing], Snapshot]:
    """Reloads on top of `snap`: of the same tree, and of the commit that changed one task."""
    repo, same_tree, next_tree = bench.repo, bench.first.tree, bench.second.tree
    same_load, _ = measure("no-change load", lambda: load(GitSource(repo, same_tree), snap), repeat)
    same, (same_snap, _) = measure("no-change load+validate", lambda: load_and_check(repo, same_tree, snap), repeat)
    one_load, _ = measure("one-changed load", lambda: load(GitSource(repo, next_tree), snap), repeat)
    one, (one_snap, found) = measure("one-changed load+validate", lambda: load_and_check(repo, next_tree, snap), repeat)
    require_valid(found)
    if same_snap.parsed != 0:
        raise SystemExit(f"a reload of the same tree parsed {same_snap.parsed} files, expected 0")
    if one_snap.parsed != 1 or one_snap.files[bench.changed_path] is snap.files[bench.changed_path]:
        raise SystemExit(f"reload after changing {bench.changed_path} parsed {one_snap.parsed} files, expected 1")
    return [same_load, same, one_load, one], one_snap


def run(n_tasks: int, repeat: int, tmp: str) -> Results:
    start = time.perf_counter()
    bench = build_repo(tmp, n_tasks)
    build_s = time.perf_counter() - start
    full, snap, findings = measure_full(bench, repeat)
    reloads, one_snap = measure_reloads(bench, snap, repeat)
    return Results(
        n_tasks=n_tasks,
        repeat=repeat,
        manifests=bench.files,
        size=bench.size,
        build_s=build_s,
        timings=full + reloads,
        findings=len(findings),
        one_changed_parsed=one_snap.parsed,
        one_changed_reused=one_snap.reused,
    )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def as_json(r: Results) -> dict[str, Any]:
    full = r.get("full load+validate")
    return {
        "tasks": r.n_tasks,
        "manifests": r.manifests,
        "bytes": r.size,
        "repeat": r.repeat,
        "build_repo_s": round(r.build_s, 3),
        "findings": r.findings,
        "one_changed_parsed": r.one_changed_parsed,
        "one_changed_reused": r.one_changed_reused,
        "full_load_us_per_manifest": round(r.get("full load").median_ms * 1e3 / r.manifests, 2),
        "full_load_validate_us_per_manifest": round(full.median_ms * 1e3 / r.manifests, 2),
        "timings": {
            t.label: {
                "median_ms": round(t.median_ms, 3),
                "min_ms": round(t.min_ms, 3),
                "x_bare_pygit2": round(r.ratio(t), 4),
            }
            for t in r.timings
        },
    }


def as_table(r: Results) -> str:
    lines = [
        f"{r.manifests} manifests ({r.n_tasks} tasks, {r.size / 1e6:.1f} MB of YAML); "
        f"repository built in {r.build_s:.2f} s; median and min of {r.repeat} runs",
        "",
        f"{'measurement':<28}{'median ms':>12}{'min ms':>12}   vs bare pygit2 read",
    ]
    for t in r.timings:
        ratio = "(the floor)" if t is r.baseline() else f"x{r.ratio(t):.3g}"
        lines.append(f"{t.label:<28}{t.median_ms:>12.2f}{t.min_ms:>12.2f}   {ratio}")
    per = r.get("full load").median_ms * 1e3 / r.manifests
    per_all = r.get("full load+validate").median_ms * 1e3 / r.manifests
    floor = r.get("bare read + CSafeLoader").median_ms
    lines += [
        "",
        f"cold load+validate vs bare read + CSafeLoader parse: x{r.get('full load+validate').median_ms / floor:.2f}"
        " (issue 11: <= 3)",
        f"restart with a warm disk cache vs bare read: x{r.ratio(r.get('restart, warm disk cache')):.2f}"
        " (issue 11: <= 3)",
        "",
        f"full load: {per:.1f} µs per manifest ({per_all:.1f} µs with all_findings)",
        f"one-changed reload: parsed {r.one_changed_parsed}, reused {r.one_changed_reused}",
        f"findings on the full snapshot: {r.findings} (0 errors)",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=10_000, help="task manifests to generate (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.repeat < 1:
        parser.error("--tasks and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        results = run(args.tasks, args.repeat, tmp)
    print(json.dumps(as_json(results), indent=2) if args.json else as_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
