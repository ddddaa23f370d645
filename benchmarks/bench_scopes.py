"""The first reconcile pass over N tasks that each declare their own `paths` glob, against the
same tasks without `paths`, in the same run (issue 11: path-scope admission must not be
pairwise over all tasks).

Each task claims `services/s<i>/**`; none overlaps another, so every task is admitted and holds
its scope, and every later admission asks whether its scope overlaps any held one. The repository
is `bench_reconcile.py`'s (one agent, tasks that need nothing). Each figure is the wall time of
one first pass (`Reconciler.run_once` on a fresh repository), median of `--repeat` runs.

Usage: python benchmarks/bench_scopes.py [--tasks 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import bench_reconcile as br
import pygit2

from reconciler.control.reconcile import Reconciler
from reconciler.gitstate.store import Store

PLAIN = br.task_yaml


def scoped(name: str, i: int, revision: int = 0) -> str:
    return PLAIN(name, i, revision) + f'  paths: ["services/s{i}/**"]\n'


def first_pass(n: int, with_paths: bool) -> float:
    if with_paths:
        br.task_yaml = scoped
    try:
        with tempfile.TemporaryDirectory(prefix="mc-bench-scopes-") as tmp:
            repo = br.build_repo(tmp + "/repo.git", n)
            reconciler = Reconciler(Store(pygit2.Repository(repo.path)))
            start = time.perf_counter()
            result = reconciler.run_once()
            took = time.perf_counter() - start
            assert len(result.transitions) == 2 * n, len(result.transitions)
            return took
    finally:
        br.task_yaml = PLAIN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    without = statistics.median(first_pass(args.tasks, False) for _ in range(args.repeat))
    with_paths = statistics.median(first_pass(args.tasks, True) for _ in range(args.repeat))
    print(f"first pass over {args.tasks} tasks, median of {args.repeat}:")
    print(f"  without paths (baseline)       {without:8.2f} s")
    print(f"  each with its own paths glob   {with_paths:8.2f} s   x{with_paths / without:.2f} of the baseline")


if __name__ == "__main__":
    main()
