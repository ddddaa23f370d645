"""How fast the overlap check is with 1,000, 10,000 and 100,000 indexed tasks, against brute force
in the same run.

For each size it builds a throwaway repository of N task manifests (titles drawn from a
vocabulary of services, components and actions, so that near neighbours exist), then measures:

- index build: `OverlapIndex.rebuild` (read and parse every manifest, embed every title with the
  real model, write the LanceDB table and its full-text index);
- one-task update: a commit that changes one task, then `ensure` (re-embeds one row);
- the check: `OverlapChecker.check` for Q queries (the query's embedding included), median and p95;
- brute force, same queries: the query's embedding, rapidfuzz `token_set_ratio` over all titles
  (`process.extract`) and numpy cosine over all vectors (held in memory), median and p95.

Usage: python benchmarks/bench_overlap_speed.py [--sizes 1000,10000,100000] [--queries 40] [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pygit2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.control.overlap_check import OverlapChecker, Query, Thresholds  # noqa: E402
from reconciler.gitstate.store import open_store  # noqa: E402
from reconciler.overlap.embed import default_embedder  # noqa: E402
from reconciler.overlap.index import OverlapIndex  # noqa: E402
from reconciler.overlap.text import strip_title  # noqa: E402

SERVICES = "payments billing ledger checkout search catalog inventory shipping auth identity notifications "
SERVICES += "reporting analytics gateway scheduler storage cache queue webhooks onboarding pricing fraud"
COMPONENTS = "client API worker database migration dashboard exporter importer parser validator retry-policy "
COMPONENTS += "rate-limiter config CLI SDK cron-job index schema logger metrics alerting"
ACTIONS = [
    "Add retries to the {s} {c}",
    "Fix timeouts in the {s} {c}",
    "Migrate the {s} {c} to v{n}",
    "Write tests for the {s} {c}",
    "Document the {s} {c}",
    "Speed up the {s} {c}",
    "Remove the deprecated {s} {c}",
    "Add metrics to the {s} {c}",
    "Support pagination in the {s} {c}",
    "Harden input validation in the {s} {c}",
    "Rotate credentials used by the {s} {c}",
    "Split the {s} {c} into two services",
]
TASK = """apiVersion: missioncontrol.dev/v1
kind: Task
metadata:
  name: t{i}
spec:
  title: {title}
  kluster: main
  agent:
    name: worker
"""


def title(rng: random.Random) -> str:
    return rng.choice(ACTIONS).format(
        s=rng.choice(SERVICES.split()), c=rng.choice(COMPONENTS.split()), n=rng.randint(2, 9)
    )


def build_repo(path: Path, n: int, rng: random.Random) -> tuple[pygit2.Repository, list[str]]:
    repo = pygit2.init_repository(str(path), initial_head="main")
    titles = [title(rng) for _ in range(n)]
    tasks = repo.TreeBuilder()
    for i, t in enumerate(titles):
        tasks.insert(f"t{i}.yaml", repo.create_blob(TASK.format(i=i, title=t).encode()), pygit2.enums.FileMode.BLOB)
    mission = repo.TreeBuilder()
    mission.insert("tasks", tasks.write(), pygit2.enums.FileMode.TREE)
    missions = repo.TreeBuilder()
    missions.insert("m", mission.write(), pygit2.enums.FileMode.TREE)
    root = repo.TreeBuilder()
    root.insert("missions", missions.write(), pygit2.enums.FileMode.TREE)
    sig = pygit2.Signature("bench", "bench@example.com")
    repo.create_commit("refs/heads/main", sig, sig, "tasks", root.write(), [])
    return repo, titles


def change_one(repo: pygit2.Repository, new_title: str) -> str:
    head = repo.head.peel(pygit2.Commit)
    tasks_tree = head.tree["missions/m/tasks"].peel(pygit2.Tree)
    tasks = repo.TreeBuilder(tasks_tree)
    tasks.insert("t0.yaml", repo.create_blob(TASK.format(i=0, title=new_title).encode()), pygit2.enums.FileMode.BLOB)
    mission = repo.TreeBuilder(head.tree["missions/m"].peel(pygit2.Tree))
    mission.insert("tasks", tasks.write(), pygit2.enums.FileMode.TREE)
    missions = repo.TreeBuilder(head.tree["missions"].peel(pygit2.Tree))
    missions.insert("m", mission.write(), pygit2.enums.FileMode.TREE)
    root = repo.TreeBuilder(head.tree)
    root.insert("missions", missions.write(), pygit2.enums.FileMode.TREE)
    sig = pygit2.Signature("bench", "bench@example.com")
    return str(repo.create_commit("refs/heads/main", sig, sig, "one task", root.write(), [head.id]))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(n: int, queries: int, rng: random.Random) -> None:
    from rapidfuzz import fuzz, process

    embedder = default_embedder()
    with tempfile.TemporaryDirectory(prefix="mc-bench-overlap-") as tmp:
        repo, titles = build_repo(Path(tmp) / "repo", n, rng)
        head = str(repo.head.target)
        index = OverlapIndex(repo, embedder)
        t = time.perf_counter()
        index.rebuild(head)
        build = time.perf_counter() - t
        t = time.perf_counter()
        commit = change_one(repo, "Add retries to the payments client, with jitter")
        assert index.ensure(commit) == "updated"
        update = time.perf_counter() - t

        checker = OverlapChecker(open_store(repo, None), embedder)
        checker.index = index
        asks = [title(rng) + " " + rng.choice(("soon", "for the next release", "", "")) for _ in range(queries)]
        thresholds = {"m": Thresholds()}
        checker.check(Query("m", asks[0]), commit, {}, thresholds)  # warm: the table is open, the model loaded
        ours = []
        for q in asks:
            t = time.perf_counter()
            checker.check(Query("m", q), commit, {}, thresholds)
            ours.append(time.perf_counter() - t)

        vectors = embedder.embed([strip_title(x) for x in titles])  # brute force holds every vector in memory
        brute = []
        for q in asks:
            t = time.perf_counter()
            v = embedder.embed([strip_title(q)])[0]
            process.extract(q, titles, scorer=fuzz.token_set_ratio, limit=10)
            scores = vectors @ v
            np.argpartition(-scores, 10)[:10]
            brute.append(time.perf_counter() - t)

    m_ours, m_brute = statistics.median(ours), statistics.median(brute)
    print(
        f"{n:>7} tasks  build {build:7.1f} s ({n / build:5.0f} tasks/s)  one-task update {update * 1000:6.0f} ms  "
        f"check p50 {m_ours * 1000:6.1f} ms p95 {pct(ours, 0.95) * 1000:6.1f} ms  "
        f"brute force p50 {m_brute * 1000:6.1f} ms p95 {pct(brute, 0.95) * 1000:6.1f} ms  "
        f"(x{m_ours / m_brute:.2f} of brute force)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 tasks, 20 queries")
    args = parser.parse_args()
    sizes = [1000, 10000] if args.quick else [int(x) for x in args.sizes.split(",")]
    queries = 20 if args.quick else args.queries
    rng = random.Random(7)
    print(f"overlap check latency, {queries} queries per size (query embedding included); model and table warm")
    for n in sizes:
        run(n, queries, rng)


if __name__ == "__main__":
    main()
