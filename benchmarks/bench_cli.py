"""Benchmark the agent commands as agents run them: one `mc` process per call.

Builds a throwaway repository of N Queued tasks (one agent may take them all; see
bench_claims.py), then runs N rounds. Round i claims task i and works it through, one process
per command, through the `mc` console script:

- `mc claim` (takes the next task), `mc heartbeat`, `mc checkpoint` (a commit on the work
  branch), `mc effect check` (a key not recorded), and `mc complete` (ends the lease);
- the floors of any such process, in the same round: `python -c pass` (an interpreter start)
  and `python -c "import pygit2"` (the commands write Git, so they import pygit2);
- `mc heartbeat` through the typer app (`cli.main:app`, what `mc` ran before cli/entry.py).

Interleaving the rounds spreads the machine's ups and downs over every row alike. Each row
reports the p50 and p95 of its N wall times, and its p50 over that of `python -c pass`, beside
the goal (p50 at most 150 ms, ideally at most 4x python -c pass). With --profile it also prints
what one `mc heartbeat` imports (`python -X importtime`), the most expensive first.

Usage: python benchmarks/bench_cli.py [--runs N] [--quick] [--profile] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_claims import percentile, prepared_repo
from bench_reconcile import MISSION, REPLICAS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INSTALLED = BIN / "mc"
GOAL_MS = 150.0
GOAL_RATIO = 4.0
TTL = "3600"
SHAPE = "one agent, tasks that need nothing, claim no paths and declare no output schema"

PASS = "python -c pass"
PYGIT2 = 'python -c "import pygit2"'
CLAIM = "mc claim"
HEARTBEAT = "mc heartbeat"
CHECKPOINT = "mc checkpoint"
EFFECT = "mc effect check"
COMPLETE = "mc complete"
TYPER = "mc heartbeat, typer app (before)"
BASELINES = (PASS, PYGIT2)
AGENT_ROWS = (CLAIM, HEARTBEAT, CHECKPOINT, EFFECT, COMPLETE)
ROWS = (*BASELINES, *AGENT_ROWS, TYPER)
TYPER_APP = "import sys; from cli.main import app; sys.argv[0] = 'mc'; app(prog_name='mc')"


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark sanity check failed: {what}")


def declared_entry() -> str:
    """`module:function` of the `mc` console script, as pyproject.toml declares it."""
    scripts: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return scripts["mc"]


def console_script(tmp: Path) -> tuple[Path, str]:
    """The installed `mc`, if it runs the declared entry point; otherwise (a virtualenv installed
    before the entry point changed) a script written as pip writes it for that entry point, in
    `tmp`. The script, and a note saying which it is."""
    module, function = declared_entry().split(":")
    if f"from {module} import {function}" in INSTALLED.read_text(encoding="utf-8", errors="replace"):
        return INSTALLED, f"{INSTALLED} ({module}:{function})"
    script = tmp / "mc"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\n"
        f"if __name__ == '__main__':\n    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n    sys.exit({function}())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    note = f"{script}, as pip writes it for {module}:{function} ({INSTALLED} predates it: `make` reinstalls)"
    return script, note


def environment() -> dict[str, str]:
    """This environment without MC_* variables (every option is on the command line) and without
    PYTHONDONTWRITEBYTECODE: an installed `mc` runs from cached bytecode, which the warm-up
    round writes, not by compiling its modules every time."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MC_") and k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(slots=True)
class Runs:
    n: int
    script: str
    tasks: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {label: [] for label in ROWS})
    imports: list[tuple[float, str]] = field(default_factory=list)  # (cumulative ms, module), most first
    notes: list[str] = field(default_factory=list)

    def ms(self, label: str, q: float) -> float:
        return percentile(self.seconds[label], q) * 1e3

    def ratio(self, label: str, base: str = PASS) -> float:
        return self.ms(label, 50) / self.ms(base, 50)


def timed(cmd: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, str]:
    """Seconds `cmd` took, and its stdout; exits with its stderr if it failed."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds, proc.stdout


def round_of(runs: Runs, mc: list[str], repo: str, agent: str, env: dict[str, str]) -> None:
    """One round: claim a task and take it to completion, beside the baselines."""
    where = ["-C", repo]
    seconds, out = timed([*mc, "claim", "--agent", agent, "--ttl", TTL, *where, "-o", "json"], env)
    lease = json.loads(out)
    task, token = str(lease["task"]), str(lease["leaseToken"])
    _expect(lease["generation"] == 1 and task.startswith(f"{MISSION}/"), f"mc claim printed {out!r}")
    runs.seconds[CLAIM].append(seconds)
    held = [task, "-g", "1", "--lease-token", token, *where]
    seconds, out = timed([*mc, "heartbeat", *held], env)
    _expect(out.startswith(f"renewed {task} generation 1 until "), f"mc heartbeat printed {out!r}")
    runs.seconds[HEARTBEAT].append(seconds)
    seconds, out = timed([sys.executable, "-c", TYPER_APP, "heartbeat", *held], env)
    _expect(out.startswith(f"renewed {task} generation 1 until "), f"mc heartbeat (typer) printed {out!r}")
    runs.seconds[TYPER].append(seconds)
    seconds, out = timed([*mc, "checkpoint", *held, "--message", "halfway", "-o", "json"], env)
    _expect(re.fullmatch(r"[0-9a-f]{40}", str(json.loads(out)["commit"])) is not None, f"mc checkpoint printed {out!r}")
    runs.seconds[CHECKPOINT].append(seconds)
    key = ["effect", "check", f"{task}:email", "--task", task, *held[1:]]
    seconds, out = timed([*mc, *key], env)
    _expect(out == f"{task}:email: not recorded\n", f"mc effect check printed {out!r}")
    runs.seconds[EFFECT].append(seconds)
    seconds, out = timed([*mc, "complete", *held, "--outputs", "-"], env, stdin="{}")
    _expect(out.startswith(f"completed {task}: result "), f"mc complete printed {out!r}")
    runs.seconds[COMPLETE].append(seconds)
    runs.seconds[PASS].append(timed([sys.executable, "-c", "pass"], env)[0])
    runs.seconds[PYGIT2].append(timed([sys.executable, "-c", "import pygit2"], env)[0])


def import_profile(mc: list[str], repo: str, agent: str, env: dict[str, str]) -> list[tuple[float, str]]:
    """What `mc heartbeat` imports on a fresh lease, by cumulative ms, the most first; checks
    that it imports no typer."""
    out = timed([*mc, "claim", "--agent", agent, "--ttl", TTL, "-C", repo, "-o", "json"], env)[1]
    lease = json.loads(out)
    held = [str(lease["task"]), "-g", "1", "--lease-token", str(lease["leaseToken"]), "-C", repo]
    cmd = [sys.executable, "-X", "importtime", *mc, "heartbeat", *held]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    _expect(proc.returncode == 0, f"mc heartbeat under -X importtime failed: {proc.stderr[-500:]}")
    found: list[tuple[float, str]] = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            found.append((int(parts[1]) / 1e3, parts[2].rstrip()))
    names = {name.strip() for _, name in found}
    _expect(
        bool(names) and not names & {"typer", "click", "pydantic"}, "mc heartbeat imported typer: not the fast path"
    )
    return sorted(found, reverse=True)


def run(n: int, want_profile: bool) -> Runs:
    env = environment()
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        script, note = console_script(Path(tmp))
        mc = [str(script)]
        tasks = n + 2
        repo = str(Path(tmp) / "repo")
        _, agent = prepared_repo(repo, tasks)
        runs = Runs(n, note, tasks)
        if "PYTHONDONTWRITEBYTECODE" in os.environ:
            runs.notes.append(
                "PYTHONDONTWRITEBYTECODE is unset for the runs: an installed mc runs from cached bytecode"
            )
        warm = Runs(1, note, tasks)
        round_of(warm, mc, repo, agent, env)  # compiles the bytecode, fills the page cache
        for _ in range(n):
            round_of(runs, mc, repo, agent, env)
        runs.imports = import_profile(mc, repo, agent, env)  # also checks that it is the fast path
    if not want_profile:
        runs.imports = []
    return runs


def verdict(runs: Runs, label: str) -> str:
    """Which goals the p50 of `label` meets: at most 150 ms, and at most 4x python -c pass."""
    if label in BASELINES:
        return "(baseline)" if label == PASS else ""
    p50 = runs.ms(label, 50)
    if p50 > GOAL_MS:
        return "missed: over 150 ms"
    return "met" if runs.ratio(label) <= GOAL_RATIO else f"<= 150 ms; not <= {GOAL_RATIO:g}x pass"


def as_table(runs: Runs) -> str:
    lines = [
        f"Agent commands, one process each, through {runs.script}",
        f"{runs.n} rounds, interleaved, on a repository of {runs.tasks} Queued tasks ({SHAPE})",
        "",
        f"{'command':<34}{'p50 ms':>9}{'p95 ms':>9}{'x pass':>9}{'x pygit2':>10}   goal",
    ]
    for label in ROWS:
        ratio = "" if label == PASS else f"x{runs.ratio(label):.2f}"
        floor = "" if label in BASELINES else f"x{runs.ratio(label, PYGIT2):.2f}"
        lines.append(
            f"{label:<34}{runs.ms(label, 50):>9.1f}{runs.ms(label, 95):>9.1f}{ratio:>9}{floor:>10}   "
            f"{verdict(runs, label)}"
        )
    lines += [
        "",
        f"goal: p50 <= {GOAL_MS:.0f} ms, ideally <= {GOAL_RATIO:g}x python -c pass "
        f"({GOAL_RATIO * runs.ms(PASS, 50):.1f} ms in this run); x pass, x pygit2: p50 over the p50 of that baseline",
        f'python -c "import pygit2" alone is x{runs.ratio(PYGIT2):.2f}: the floor of a command that writes Git',
        *runs.notes,
    ]
    if runs.imports:
        lines += ["", "what one `mc heartbeat` imports (python -X importtime), by cumulative ms:"]
        lines += [f"  {ms:>7.1f}  {name}" for ms, name in runs.imports[:15]]
    return "\n".join(line.rstrip() for line in lines)


def as_json(runs: Runs) -> dict[str, Any]:
    return {
        "script": runs.script,
        "rounds": runs.n,
        "tasks": runs.tasks,
        "shape": SHAPE,
        "goal": {"p50_ms": GOAL_MS, "x_python_c_pass": GOAL_RATIO},
        "commands": {
            label: {
                "p50_ms": round(runs.ms(label, 50), 2),
                "p95_ms": round(runs.ms(label, 95), 2),
                "x_python_c_pass": round(runs.ratio(label), 3),
                "x_import_pygit2": round(runs.ratio(label, PYGIT2), 3),
                "verdict": verdict(runs, label),
            }
            for label in ROWS
        },
        "notes": runs.notes,
        "imports_ms": [{"module": name.strip(), "cumulative_ms": ms} for ms, name in runs.imports[:30]],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40, help="rounds, N: processes per row (default 40)")
    parser.add_argument("--quick", action="store_true", help="10 rounds")
    parser.add_argument("--profile", action="store_true", help="also list what one `mc heartbeat` imports")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 10
    if not 1 <= args.runs < REPLICAS - 2:
        parser.error(f"--runs must be between 1 and {REPLICAS - 3}: the agent's replicas bound the tasks it holds")
    if not INSTALLED.exists():
        parser.error(f"{INSTALLED} not found: run this with the virtualenv's python (.venv/bin/python)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = run(args.runs, args.profile)
    print(json.dumps(as_json(runs), indent=2) if args.json else as_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
