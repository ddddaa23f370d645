"""What an idle reconciler service and an idle mesh node cost: commits, objects and bytes they
write, and CPU they use.

A fresh `mc init` repository with one task; `mc reconciler run` and `mc-mesh run` start, the node
runs the task, and both are then left alone for `--seconds`. The baseline, measured in the same run, is a bare Python
process that sleeps for the same time (what "doing nothing" costs an interpreter here).

    .venv/bin/python benchmarks/bench_idle.py --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store_size(repo: Path) -> tuple[int, int]:
    """(objects, bytes) in the object store, loose and packed."""
    fields = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    objects = int(fields["count"]) + int(fields["in-pack"])
    return objects, (int(fields["size"]) + int(fields["size-pack"])) * 1024


def commits(repo: Path, ref: str) -> int:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", ref], capture_output=True, text=True, check=False
    )
    return int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0


def idle_service(seconds: float, leader_ttl: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run([BIN / "mc", "init", str(repo), "-o", "json"], capture_output=True, check=True)
        proc = subprocess.Popen(
            [BIN / "mc", "reconciler", "run", "--leader-ttl", str(leader_ttl), "-C", str(repo)],
            stderr=subprocess.DEVNULL,
        )
        node = subprocess.Popen(
            [BIN / "mc-mesh", "run", "--node", "idle", "--ttl", str(leader_ttl), "-C", str(repo)],
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while commits(repo, "refs/mc/status") == 0:
                if time.monotonic() > deadline:
                    raise SystemExit("the service wrote no status within 30 s")
                time.sleep(0.1)
            time.sleep(max(2.0, leader_ttl / 3 + 1.0))  # past the first pass and the first renewal
            cpu0, ncpu0, (obj0, bytes0) = cpu_seconds(proc.pid), cpu_seconds(node.pid), store_size(repo)
            leader0, status0 = commits(repo, "refs/mc/system/leader"), commits(repo, "refs/mc/status")
            node0 = commits(repo, "refs/mc/nodes/idle")
            time.sleep(seconds)
            cpu1, ncpu1, (obj1, bytes1) = cpu_seconds(proc.pid), cpu_seconds(node.pid), store_size(repo)
            leader1, status1 = commits(repo, "refs/mc/system/leader"), commits(repo, "refs/mc/status")
            node1 = commits(repo, "refs/mc/nodes/idle")
        finally:
            for p in (node, proc):
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
    return {
        "cpu_s": cpu1 - cpu0,
        "node_cpu_s": ncpu1 - ncpu0,
        "node_commits": node1 - node0,
        "leader_commits": leader1 - leader0,
        "status_commits": status1 - status0,
        "objects": obj1 - obj0,
        "bytes": bytes1 - bytes0,
    }


def sleeping_interpreter(seconds: float) -> float:
    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
    time.sleep(seconds / 2)
    cpu0 = cpu_seconds(proc.pid)
    time.sleep(seconds / 2 - 0.2)
    cpu1 = cpu_seconds(proc.pid)
    proc.wait()
    return (cpu1 - cpu0) * seconds / (seconds / 2 - 0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="idle time measured (default 30)")
    parser.add_argument("--leader-ttl", type=float, default=15.0, help="the service's --leader-ttl (default 15)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    figures = idle_service(args.seconds, args.leader_ttl)
    baseline = sleeping_interpreter(min(args.seconds, 10.0)) * args.seconds / min(args.seconds, 10.0)
    per_hour = 3600 / args.seconds
    if args.json:
        print(json.dumps({**figures, "baseline_cpu_s": baseline, "seconds": args.seconds}))
        return
    print(f"Idle `mc reconciler run` (--leader-ttl {args.leader_ttl:g}) for {args.seconds:g} s after its first pass\n")
    print(f"{'measurement':<34}{'in the window':>16}{'per hour':>14}")
    for label, key in (
        ("leader lease history (commits)", "leader_commits"),
        ("status commits", "status_commits"),
        ("node history (commits)", "node_commits"),
        ("objects written (renewals replaced)", "objects"),
        ("bytes written", "bytes"),
    ):
        print(f"{label:<34}{figures[key]:>16.0f}{figures[key] * per_hour:>14.0f}")
    cpu = figures["cpu_s"]
    print(f"{'CPU seconds, reconciler':<34}{cpu:>16.3f}{cpu * per_hour:>14.1f}   {cpu / args.seconds:.2%} of a core")
    ncpu = figures["node_cpu_s"]
    print(f"{'CPU seconds, node':<34}{ncpu:>16.3f}{ncpu * per_hour:>14.1f}   {ncpu / args.seconds:.2%} of a core")
    ratio = f"the service used x{cpu / baseline:.1f} of that" if baseline > 0 else "below the clock's 10 ms resolution"
    print(f"{'baseline: a sleeping interpreter':<34}{baseline:>16.3f}{baseline * per_hour:>14.1f}   {ratio}")


if __name__ == "__main__":
    main()
