"""Mesh nodes at work: no-op tasks from the commit that declares them to all Succeeded, through
`--nodes` nodes on this machine, against spawning the same no-op process directly; and what a
node with many running tasks writes per heartbeat interval.

    .venv/bin/python benchmarks/bench_mesh.py --tasks 1000 --nodes 4
    .venv/bin/python benchmarks/bench_mesh.py --quick      # 100 tasks, 2 nodes, 20 running
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2

from reconciler.gitstate.status import StatusView, read_status
from reconciler.gitstate.store import Store
from reconciler.vocabulary.phases import Phase

BIN = Path(sys.executable).parent
AGENT = """\
apiVersion: missioncontrol.dev/v1
kind: Agent
metadata: {{name: noop}}
spec:
  runtime: {{command: {command}}}
  replicas: 1000
"""
TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata: {{name: {name}}}
spec: {{title: {name}, kluster: main, agent: {{name: noop}}}}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def repository(root: Path, command: list[str]) -> Path:
    repo = root / "repo"
    subprocess.run([BIN / "mc", "init", str(repo), "--mission", "m", "-o", "json"], capture_output=True, check=True)
    (repo / "missions/m/tasks/hello.yaml").unlink()
    (repo / "missions/m/agents/noop.yaml").write_text(AGENT.format(command=json.dumps(command)))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "the agent")
    return repo


def declare(repo: Path, n: int, prefix: str) -> None:
    tasks = repo / "missions/m/tasks"
    for i in range(n):
        (tasks / f"{prefix}{i:05d}.yaml").write_text(TASK.format(name=f"{prefix}{i:05d}"))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", f"{n} tasks")


def phases(repo: Path) -> dict[str, str]:
    out = subprocess.run(
        [BIN / "mc", "get", "tasks", "-C", str(repo), "-o", "json"], capture_output=True, text=True, check=True
    ).stdout
    return {t["metadata"]["name"]: t["status"]["phase"] for t in json.loads(out)}


def start(repo: Path, nodes: int, capacity: int) -> list[subprocess.Popen[bytes]]:
    procs = [subprocess.Popen([BIN / "mc", "reconciler", "run", "-C", str(repo)], stderr=subprocess.DEVNULL)]
    for i in range(nodes):
        procs.append(
            subprocess.Popen(
                [BIN / "mc-mesh", "run", "--node", f"n{i}", "--capacity", str(capacity), "-C", str(repo)],
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)


def throughput(tasks: int, nodes: int, capacity: int) -> tuple[float, float]:
    """Seconds from the declaring commit to all Succeeded, and the direct-spawn baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = repository(Path(tmp), ["true"])
        procs = start(repo, nodes, capacity)
        try:
            time.sleep(2.0)  # the services are up and idle
            started = time.perf_counter()
            declare(repo, tasks, "t")
            view: StatusView | None = None
            store = Store(pygit2.Repository(str(repo)))
            while True:  # read the status chain itself: `mc get tasks` would validate every manifest each time
                view = read_status(store, previous=view)
                if len(view.tasks) == tasks and all(st.phase == Phase.SUCCEEDED for st in view.tasks.values()):
                    break
                if time.perf_counter() - started > 3600:
                    raise SystemExit("not all tasks succeeded within an hour")
                time.sleep(0.5)
            elapsed = time.perf_counter() - started
        finally:
            stop(procs)
    begun = time.perf_counter()
    for _ in range(tasks):
        subprocess.run(["true"], check=True)
    return elapsed, time.perf_counter() - begun


def tips(repo: Path) -> dict[str, str]:
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return dict(line.split(" ", 1) for line in lines)


def writes_per_interval(running: int, ttl: float) -> dict[str, float]:
    """A node running `running` long tasks: ref moves in one heartbeat interval (ttl / 3)."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = repository(Path(tmp), ["sleep", "600"])
        procs = start(repo, 0, 1)
        node = subprocess.Popen(
            [BIN / "mc-mesh", "run", "--node", "busy", "--capacity", str(running), "--ttl", str(ttl), "-C", str(repo)],
            stderr=subprocess.DEVNULL,
        )
        procs.append(node)
        try:
            declare(repo, running, "s")
            deadline = time.monotonic() + 600
            while sum(p == "Running" for p in phases(repo).values()) < running:
                if time.monotonic() > deadline:
                    raise SystemExit("the tasks did not all start")
                time.sleep(0.5)
            writes: dict[str, int] = {}
            last = tips(repo)
            deadline = time.monotonic() + 3 * ttl / 3  # three heartbeat intervals, sampled every 50 ms
            while time.monotonic() < deadline:
                time.sleep(0.05)
                now = tips(repo)
                for ref, tip in now.items():
                    if last.get(ref) != tip:
                        writes[ref] = writes.get(ref, 0) + 1
                last = now
        finally:
            stop(procs)

    def count(prefixes: tuple[str, ...], inside: bool = True) -> float:
        return float(sum(n for r, n in writes.items() if r.startswith(prefixes) == inside))

    return {
        "intervals": 3.0,
        "lease_writes": count(("refs/mc/leases/",)),
        "node_writes": count(("refs/mc/nodes/",)),
        "other_writes": count(("refs/mc/leases/", "refs/mc/nodes/"), inside=False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="no-op tasks for the throughput run (default 1000)")
    parser.add_argument("--nodes", type=int, default=4, help="nodes for the throughput run (default 4)")
    parser.add_argument("--capacity", type=int, default=4, help="agents per node at once (default 4)")
    parser.add_argument("--running", type=int, default=100, help="long tasks on one node for the writes (default 100)")
    parser.add_argument("--quick", action="store_true", help="100 tasks, 2 nodes, 20 running")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.nodes, args.running = 100, 2, 20
    elapsed, baseline = throughput(args.tasks, args.nodes, args.capacity)
    print(
        f"{args.tasks} no-op tasks through {args.nodes} nodes (capacity {args.capacity} each), commit to all Succeeded\n"
    )
    print(f"{'measurement':<46}{'seconds':>10}{'per task ms':>14}{'tasks/s':>10}")
    print(
        f"{'mesh: claim, worktree, run, result, pass':<46}{elapsed:>10.2f}{elapsed / args.tasks * 1000:>14.1f}{args.tasks / elapsed:>10.1f}"
    )
    label = "baseline: subprocess.run(['true']) each"
    print(f"{label:<46}{baseline:>10.2f}{baseline / args.tasks * 1000:>14.2f}{args.tasks / baseline:>10.1f}")
    overhead = (elapsed - baseline) / args.tasks * 1000
    print(
        f"\noverhead per task over spawning it directly: {overhead:.1f} ms (x{elapsed / baseline:.0f} the baseline's time)"
    )
    ttl = 6.0
    figures = writes_per_interval(args.running, ttl)
    print(
        f"\nA node running {args.running} tasks, heartbeat every {ttl / 3:g} s, over {figures['intervals']:g} intervals:"
    )
    per = figures["intervals"]
    print(f"  lease ref writes: {figures['lease_writes']:.0f} ({figures['lease_writes'] / per:.1f} per interval)")
    print(f"  node ref writes:  {figures['node_writes']:.0f} ({figures['node_writes'] / per:.1f} per interval)")
    print(f"  other ref writes: {figures['other_writes']:.0f}")


if __name__ == "__main__":
    main()
