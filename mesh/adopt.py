"""What a node left behind when it was killed (SIGKILL, power loss): found and cleaned up at its
next start, from what is on disk, never from the node's own belief.

The node records each run's process group in `runs.json` under its directory before the agent
can do anything. At start, every recorded group still alive is stopped (SIGTERM, then SIGKILL:
its leases were vouched by a node incarnation that no longer exists, so no report of theirs
can be accepted), and every worktree left under the node's directory is removed, on disk and
in `git worktree list`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

RUNS_FILE = "runs.json"


def record_runs(root: Path, groups: dict[str, int]) -> None:
    """Write the live runs (task -> process group) atomically, before and after each change."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (RUNS_FILE + ".tmp")
    tmp.write_text(json.dumps(groups, sort_keys=True), encoding="utf-8")
    os.replace(tmp, root / RUNS_FILE)


def recorded_runs(root: Path) -> dict[str, int]:
    try:
        data = json.loads((root / RUNS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_orphans(root: Path, grace: float = 5.0) -> list[str]:
    """Stop every process group a previous incarnation recorded that is still alive; the tasks."""
    orphans = {task: pgid for task, pgid in recorded_runs(root).items() if _alive(pgid)}
    for pgid in orphans.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in orphans.values()):
        time.sleep(0.05)
    for pgid in orphans.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    record_runs(root, {})
    return sorted(orphans)
