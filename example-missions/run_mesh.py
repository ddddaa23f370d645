#!/usr/bin/env python3
"""Run an example mission for real: a reconciler and mesh nodes as processes, agents in worktrees.

    python example-missions/run_mesh.py example-missions/loan-approval [--nodes 2] [--keep]

It copies the example into a temporary Git repository, starts `mc reconciler run` and `--nodes`
`mc-mesh run` daemons on it, shows every task's phase live until nothing more can happen without
a person (an approval gate, or the end), stops the daemons, and prints a closing table (task,
phase, node, attempts, duration, spend) and what to do next. It uses only the public commands
(`mc get tasks -o json`), as any dashboard would.

Every node and the reconciler sign the custody commits they write with a key of their own: the
copy's operator generates one per daemon, declares it in principals.yaml (kinds node and
reconciler, in a commit of their own), and starts each daemon with `--signing-key`. After the
run, `mc audit verify` re-checks the record, custody signatures included. Exit 0 when the
mission settled with no task Failed and the audit found nothing; 1 otherwise, with the daemons'
logs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

ACTIVE = {"Queued", "Leased", "Running", "Expired"}
COLOURS = {
    "Succeeded": "green",
    "AwaitingApproval": "bold yellow",
    "Running": "cyan",
    "Leased": "cyan",
    "Queued": "blue",
    "Failed": "bold red",
    "Blocked": "red",
    "Pending": "dim",
}
console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)


@dataclass
class Daemons:
    procs: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, Path]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]


def git(repo: Path, *args: str) -> None:
    identity = ("-c", "user.name=MissionControl demo", "-c", "user.email=demo@example.invalid")
    subprocess.run(["git", *identity, "-C", str(repo), *args], check=True, capture_output=True)


def tasks(repo: Path) -> list[dict[str, Any]]:
    command = ["mc", "get", "tasks", "-o", "json", "-C", str(repo)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return []
    found: list[dict[str, Any]] = json.loads(proc.stdout)
    return found


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def duration(status: dict[str, Any], now: float) -> str:
    """From the first time the task ran to the end of its last attempt (or now, while running);
    time spent awaiting approval is not running time."""
    history = status.get("history") or []
    started = next((_at(e["at"]) for e in history if e["target"] == "Running"), None)
    if started is None:
        return ""
    left = [_at(e["at"]) for e in history if e["source"] == "Running" and _at(e["at"]) >= started]
    ended = left[-1] if left and status["phase"] not in ACTIVE else now
    return f"{ended - started:.1f}s"


def row(task: dict[str, Any], now: float) -> list[str]:
    st = task["status"]
    phase = st.get("phase") or "-"
    spend = st.get("spend") or {}
    return [
        task["metadata"]["name"],
        f"[{COLOURS.get(phase, '')}]{phase}[/]",
        st.get("node") or "",
        str(st.get("attempts") or ""),
        duration(st, now) if st.get("phase") else "",
        f"${spend['cost_usd']:.5f}" if spend.get("cost_usd") else "",
    ]


def table(found: list[dict[str, Any]], title: str) -> Table:
    grid = Table(title=title, title_justify="left")
    for column in ("TASK", "PHASE", "NODE", "ATTEMPTS", "DURATION", "SPEND"):
        grid.add_column(column, no_wrap=True)
    now = time.time()
    for task in sorted(found, key=_ran_first):
        grid.add_row(*row(task, now))
    return grid


def _ran_first(task: dict[str, Any]) -> tuple[float, str]:
    history = task["status"].get("history") or []
    ran = next((_at(e["at"]) for e in history if e["target"] in ("Leased", "Running")), float("inf"))
    return ran, task["metadata"]["name"]


def settled(found: list[dict[str, Any]]) -> bool:
    """Nothing more happens without a person: every task has a status and none is in flight."""
    phases = [t["status"].get("phase") for t in found]
    return bool(phases) and None not in phases and not ACTIVE & set(phases)


def node_names(nodes: int) -> list[str]:
    return [f"node-{chr(ord('a') + i)}" for i in range(nodes)]


def custodian_keys(repo: Path, work: Path, nodes: int) -> dict[str, Path]:
    """A signing key for each node and for the reconciler, declared in the copy's principals.yaml
    (kinds node and reconciler) in a commit of their own, as an operator adds a machine."""
    keys: dict[str, Path] = {}
    entries = []
    for name, kind in [*((n, "node") for n in node_names(nodes)), ("reconciler", "reconciler")]:
        key = keys[name] = work / f"{name}-ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        public = key.with_suffix(".pub").read_text().strip()
        entries += [f"    - name: {name}", f"      kind: {kind}", "      sshKeys:", f"        - {public}"]
    principals = repo / "principals.yaml"
    lines = principals.read_text().splitlines()
    at = lines.index("  groups:") if "  groups:" in lines else len(lines)
    principals.write_text("\n".join([*lines[:at], *entries, *lines[at:]]) + "\n")
    git(repo, "add", "principals.yaml")
    git(repo, "commit", "-qm", "Declare the nodes' and the reconciler's signing keys")
    return keys


def audit(repo: Path) -> bool:
    """`mc audit verify` on the record the run left: True when it holds with no custody warning."""
    proc = subprocess.run(["mc", "audit", "verify", "-C", str(repo)], capture_output=True, text=True, check=False)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    console.print("\n$ mc audit verify   [dim](fencing, approvals, and who signed each custody commit)[/]")
    console.print("\n".join(lines[-10:]), markup=False)
    return proc.returncode == 0 and not any(line.startswith("warning:") for line in lines)


def start(repo: Path, work: Path, nodes: int, capacity: int, env: dict[str, str], keys: dict[str, Path]) -> Daemons:
    logs = {"reconciler": work / "reconciler.log"}
    signed_by = {name: ["--signing-key", str(key)] for name, key in keys.items()}
    procs = {
        "reconciler": subprocess.Popen(
            ["mc", "reconciler", "run", "--log-format", "json", "-C", str(repo), *signed_by["reconciler"]],
            stdout=subprocess.DEVNULL,
            stderr=logs["reconciler"].open("w"),
            env=env,
        )
    }
    for name in node_names(nodes):
        logs[name] = work / f"{name}.log"
        command = ["mc-mesh", "run", "--node", name, "--label", f"zone={name[-1]}", "--capacity", str(capacity)]
        procs[name] = subprocess.Popen(
            [*command, "--log-format", "json", "-C", str(repo), *signed_by[name]],
            stdout=subprocess.DEVNULL,
            stderr=logs[name].open("w"),
            env=env,
        )
    return Daemons(procs, logs)


def signing_key(repo: Path, work: Path, principal: str) -> Path:
    """Generate an SSH key for `principal`, declare it in the copy's principals.yaml (in place of
    the example's placeholder keys), and make it this repository's git signing key."""
    key = work / f"{principal}-ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    principals = repo / "principals.yaml"
    lines, mine = principals.read_text().splitlines(), False
    for i, line in enumerate(lines):
        if line.strip().startswith("- name:"):
            mine = line.split(":", 1)[1].strip() == principal
        elif mine and line.strip().startswith("- ssh-"):
            lines[i] = line[: line.index("- ssh-")] + "- " + public
    principals.write_text("\n".join(lines) + "\n")
    for setting in (("gpg.format", "ssh"), ("user.signingkey", str(key.with_suffix(".pub")))):
        git(repo, "config", *setting)
    git(repo, "config", "user.name", principal)
    git(repo, "config", "user.email", f"{principal}@example.com")
    return key


def approve(repo: Path, found: list[dict[str, Any]], principal: str) -> bool:
    """Approve, as `principal`, every result awaiting approval: a commit signed with its key."""
    waiting = [t for t in found if t["status"].get("phase") == "AwaitingApproval"]
    for task in waiting:
        name = f"{task['status']['mission']}/{task['metadata']['name']}"
        console.print(f"\n[bold]{principal} approves {name}[/] with the key the demo generated:")
        for command in (["mc", "approve", name, "--message", "Read the review packet; the offer stands."],):
            console.print("$ " + shlex.join(command), markup=False)
            proc = subprocess.run([*command, "-C", str(repo)], capture_output=True, text=True, check=False)
            console.print((proc.stdout + proc.stderr).rstrip(), markup=False)
            if proc.returncode != 0:
                return False
    return bool(waiting)


def watch(repo: Path, daemons: Daemons, timeout: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    calm = 0
    deadline = time.monotonic() + timeout
    with Live(table(found, "starting..."), console=console, refresh_per_second=4, transient=True) as live:
        while time.monotonic() < deadline and not daemons.dead():
            found = tasks(repo)
            calm = calm + 1 if settled(found) else 0
            live.update(table(found, "settled" if calm >= 2 else "running"))
            if calm >= 2:  # twice in a row: no reconcile pass was on its way
                break
            time.sleep(0.3)
    return found


def report(repo: Path, found: list[dict[str, Any]], post_office: Path, approver: str | None) -> None:
    mission = found[0]["status"]["mission"] if found else "?"
    for task in found:
        st, name = task["status"], task["metadata"]["name"]
        if st.get("phase") == "AwaitingApproval":
            console.print(
                f"\n[bold]{mission}/{name} waits at its approval gate[/]: result {str(st['result_commit'])[:12]} "
                f"is held under policy {task['spec'].get('approval', {}).get('policy', '?')}."
            )
            console.print(f"  see it:     mc describe task {mission}/{name} -C {repo}")
            console.print(f"  its work:   git -C {repo} log --stat -3 mc/work/{mission}/{name}")
            console.print(f"  who counts: mc policy explain {mission}/{name} -C {repo}")
            console.print(f"  approve it: mc approve {mission}/{name} -C {repo}   (a commit signed with your SSH key)")
    waiting = [
        (t["metadata"]["name"], c["message"])
        for t in found
        for c in t["status"].get("conditions", [])
        if t["status"].get("phase") == "Pending" and c["type"] == "Ready"
    ]
    for name, why in waiting:
        console.print(f"  {name} is Pending: {why}")
    letters = post_office / "messages.jsonl"
    if mission == "loan-approval":
        sent = len(letters.read_text().splitlines()) if letters.exists() else 0
        after = "sent after the approval, exactly once" if sent else "send-offer runs only after the approval"
        console.print(f"  letters the post office has sent: {sent} ({after})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("example", type=Path, help="an example mission repository, such as example-missions/code-swarm")
    parser.add_argument("--nodes", type=int, default=2, help="how many mesh nodes to start (default 2)")
    parser.add_argument("--capacity", type=int, default=2, help="tasks each node runs at once (default 2)")
    parser.add_argument("--timeout", type=float, default=180.0, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository to explore")
    parser.add_argument(
        "--approve", metavar="PRINCIPAL", help="at the gate, approve as PRINCIPAL (a key is generated for it)"
    )
    args = parser.parse_args()
    if shutil.which("mc") is None or shutil.which("mc-mesh") is None:
        print("run_mesh.py: mc and mc-mesh must be on PATH (make demo puts .venv/bin first)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="mc-demo-"))
    repo = work / args.example.resolve().name
    shutil.copytree(args.example, repo)
    git(repo, "init", "-q", "-b", "main")
    if args.approve:
        signing_key(repo, work, args.approve)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"Declare the {repo.name} mission")
    keys = custodian_keys(repo, work, args.nodes)
    post_office = work / "post-office"
    env = {**os.environ, "LOAN_POST_OFFICE": str(post_office)}
    console.print(
        f"[bold]{repo.name}[/]: a reconciler and {args.nodes} mesh nodes (capacity {args.capacity} each) "
        f"on a copy in {repo}"
    )
    daemons = start(repo, work, args.nodes, args.capacity, env, keys)
    try:
        found = watch(repo, daemons, args.timeout)
        if args.approve and settled(found):
            report(repo, found, post_office, args.approve)
            if approve(repo, found, args.approve):
                console.print("\nThe reconciler verifies the signature, publishes the result, and the mission goes on:")
                found = watch(repo, daemons, args.timeout)
    finally:
        daemons.stop()
    ok = settled(found) and not any(t["status"].get("phase") == "Failed" for t in found)
    report(repo, found, post_office, args.approve)
    console.print(table(found, f"{repo.name}: closing table"))
    ok = audit(repo) and ok
    if not ok:
        console.print("[bold red]the mission did not settle cleanly[/]; the daemons' logs end:")
        for name, log in daemons.logs.items():
            console.print(f"--- {name} ---", markup=False)
            console.print("\n".join(log.read_text().splitlines()[-15:]), markup=False)
    if args.keep or not ok:
        console.print(f"The daemons are stopped; the repository is kept (remove {work} when done):", markup=False)
        console.print(f"  cd {repo}", markup=False, soft_wrap=True)
        console.print(
            f"  mc get tasks; mc reconciler run --signing-key {work}/reconciler-ed25519 &"
            f" mc-mesh run --node node-a --signing-key {work}/node-a-ed25519 &   # to carry on",
            markup=False,
            soft_wrap=True,
        )
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
