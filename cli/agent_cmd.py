"""The pull-mode agent commands: `mc claim`, `heartbeat`, `checkpoint`, `complete`, `fail`, `release`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from cli.common import Output, emit, handle_errors, out, output_option, repo_option
from cli.store_opts import open_store_at, remote_option, task_key
from reconciler.errors import UsageError


def _generation() -> Any:
    return typer.Option(
        ...,
        "--generation",
        "-g",
        envvar="MC_LEASE_GENERATION",
        help="The lease generation you hold (env MC_LEASE_GENERATION).",
    )


def _mission() -> Any:
    return typer.Option(
        None,
        "--mission",
        envvar="MC_MISSION",
        help="The task's mission, if TASK has no MISSION/ prefix (env MC_MISSION).",
    )


def _show(data: dict[str, Any], output: Output, line: str) -> None:
    if output is Output.table:
        out.print(line, markup=False)
    else:
        emit(data, output)


def _now() -> float:
    import time

    return time.time()


@handle_errors
def claim(
    mission: str | None = typer.Option(
        None, "-m", "--mission", envvar="MC_MISSION", help="Only tasks of this mission."
    ),
    agent: str | None = typer.Option(
        None, "--agent", envvar="MC_AGENT_ID", help="Your agent id, or a unique agent name (env MC_AGENT_ID)."
    ),
    ttl: float = typer.Option(
        60.0, "--ttl", min=1.0, help="Lease length in seconds; renew with `mc heartbeat` before it runs out."
    ),
    node: str | None = typer.Option(None, "--node", envvar="MC_NODE", help="The node you run on, if any."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Take the next ready task (highest priority, then oldest) by compare-and-swap. Exit 3 if none."""
    from reconciler.agent_ops import claim as do_claim

    if not agent:
        raise UsageError("say who you are: --agent ID or MC_AGENT_ID")
    store = open_store_at(repo, remote)
    claimed = do_claim(store, agent, _now(), mission=mission, node=node, ttl=ttl)
    data = claimed.to_dict()
    _show(
        data,
        output,
        f"claimed {data['task']} generation {data['generation']} until {data['expiresAt']} (branch {data['workBranch']})",
    )


@handle_errors
def heartbeat(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    generation: int = _generation(),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Renew your lease. Refused if your generation is stale."""
    from reconciler.agent_ops import heartbeat as do_heartbeat
    from reconciler.clock import iso

    store = open_store_at(repo, remote)
    key = task_key(store, task, mission)
    lease = do_heartbeat(store, key, generation, _now())
    _show(
        {"task": key, "generation": generation, "expiresAt": iso(lease.expires_at)},
        output,
        f"renewed {key} generation {generation} until {iso(lease.expires_at)}",
    )


@handle_errors
def checkpoint(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    message: str = typer.Option(..., "-m", "--message", help="What this checkpoint holds."),
    generation: int = _generation(),
    worktree: Path | None = typer.Option(
        None, "--worktree", help="Commit this directory's files (default: no file changes)."
    ),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Commit progress on the task's work branch, with trailers naming task, agent and generation."""
    from reconciler.agent_ops import checkpoint as do_checkpoint

    store = open_store_at(repo, remote)
    key = task_key(store, task, mission)
    commit = do_checkpoint(store, key, generation, message, _now(), worktree)
    _show({"task": key, "generation": generation, "commit": commit}, output, f"checkpoint {commit[:12]} on {key}")


def _read_outputs(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read outputs {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"outputs {path} are not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"outputs {path} must be a JSON object")
    return data


@handle_errors
def complete(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    outputs: str | None = typer.Option(None, "--outputs", help="A JSON file (or - for stdin) with the typed result."),
    generation: int = _generation(),
    worktree: Path | None = typer.Option(None, "--worktree", help="Commit this directory's files as the result."),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Report success. Outputs are checked against the task's output schema; invalid ones are refused."""
    from reconciler.agent_ops import complete as do_complete

    store = open_store_at(repo, remote)
    key = task_key(store, task, mission)
    commit = do_complete(store, key, generation, _now(), _read_outputs(outputs), worktree)
    _show(
        {"task": key, "generation": generation, "resultCommit": commit},
        output,
        f"completed {key}: result {commit[:12]}",
    )


@handle_errors
def fail(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    reason: str = typer.Option(..., "--reason", help="Why the attempt failed."),
    generation: int = _generation(),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Report failure: the task is retried with backoff while attempts remain."""
    from reconciler.agent_ops import end

    store = open_store_at(repo, remote)
    key = task_key(store, task, mission)
    end(store, key, generation, _now(), "failed", reason)
    _show(
        {"task": key, "generation": generation, "state": "failed"},
        output,
        f"failed {key} generation {generation}: {reason}",
    )


@handle_errors
def release(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    generation: int = _generation(),
    reason: str = typer.Option("", "--reason", help="Why you give it back."),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Give the task back without using up an attempt."""
    from reconciler.agent_ops import end

    store = open_store_at(repo, remote)
    key = task_key(store, task, mission)
    end(store, key, generation, _now(), "released", reason)
    _show(
        {"task": key, "generation": generation, "state": "released"}, output, f"released {key} generation {generation}"
    )
