"""`mc logs`: the output of a task's attempts, as the mesh node that ran them captured it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from cli.common import handle_errors, output_option, repo_option
from cli.output import Output, emit
from cli.store_opts import open_repo, task_key
from reconciler.vocabulary.errors import NotFound, UsageError


def _logs(workdir: Path, mission: str, task: str) -> dict[int, Path]:
    """Every captured attempt of the task on this machine, by generation."""
    found: dict[int, Path] = {}
    for path in (workdir / ".mc" / "mesh").glob(f"*/logs/{mission}/{task}/*.log"):
        if path.stem.isdigit():
            found[int(path.stem)] = path
    return found


@handle_errors
def logs(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK with --mission."),
    attempt: int | None = typer.Option(None, "--attempt", min=1, help="The lease generation (default: the latest)."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing while the attempt runs."),
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="The task's mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
) -> None:
    """Print what an attempt of a task wrote (stdout and stderr, secrets masked)."""
    from reconciler.gitstate.leases import read_lease
    from reconciler.gitstate.store import Store
    from reconciler.vocabulary.leases import LeaseState

    git_repo = open_repo(repo)
    store = Store(git_repo)
    key = task_key(store, task, mission)
    workdir = Path(git_repo.workdir or git_repo.path)
    found = _logs(workdir, key.mission, key.name)
    if not found:
        raise NotFound(f"no captured output of {key} on this machine (a mesh node keeps it under .mc/mesh/)")
    generation = attempt if attempt is not None else max(found)
    if generation not in found:
        raise NotFound(f"no captured output of attempt {generation} of {key}; attempts here: {sorted(found)}")
    if output is not Output.table:
        if follow:
            raise UsageError("--follow prints text: leave out -o")
        text = found[generation].read_text(encoding="utf-8", errors="replace")
        emit({"task": key, "attempt": generation, "attempts": sorted(found), "log": text}, output)
        return
    with found[generation].open("rb") as f:
        while True:
            chunk = f.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            if not follow:
                return
            _, lease = read_lease(store, key)
            if lease is None or lease.generation != generation or lease.state is not LeaseState.ACTIVE:
                rest = f.read()
                sys.stdout.buffer.write(rest)
                return
            time.sleep(0.2)
