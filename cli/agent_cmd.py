"""The agent commands: `mc claim`, `heartbeat`, `usage`, `checkpoint`, `complete`, `fail`, `release`.

They are what agents call in loops: each imports only what it needs (no jsonschema, rich
tables or manifests on the claim and heartbeat paths)."""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from cli.common import Output, emit, handle_errors, output_option, repo_option
from cli.store_opts import branch_option, open_signing_store, remote_option, task_key
from reconciler.vocabulary.errors import UsageError
from reconciler.vocabulary.leases import MAX_TTL, LeaseHandle, LeaseState


class ClaimOutput(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    env = "env"


def generation_option() -> Any:
    return typer.Option(
        ...,
        "--generation",
        "-g",
        envvar="MC_LEASE_GENERATION",
        min=1,
        help="The lease generation you hold (env MC_LEASE_GENERATION).",
    )


def token_option() -> Any:
    return typer.Option(
        None,
        "--lease-token",
        envvar="MC_LEASE_TOKEN",
        help="The lease secret `mc claim` returned: only the holder may report. Prefer the environment "
        "(MC_LEASE_TOKEN): other users can read command lines in `ps`.",
        show_default=False,
    )


def agent_option() -> Any:
    return typer.Option(
        None,
        "--agent",
        envvar="MC_AGENT_ID",
        help="Your agent id; checked against the lease's holder (env MC_AGENT_ID).",
    )


def lease_handle(generation: int, token: str | None, agent: str | None) -> LeaseHandle:
    if not token:
        raise UsageError("say which lease you hold: --lease-token or MC_LEASE_TOKEN (printed by `mc claim`)")
    return LeaseHandle(generation, token, agent or None)


def _mission() -> Any:
    return typer.Option(
        None,
        "--mission",
        "-m",
        envvar="MC_MISSION",
        help="The task's mission, if TASK has no MISSION/ prefix (env MC_MISSION).",
    )


def _worktree(what: str) -> Any:
    return typer.Option(
        None,
        "--worktree",
        help=f"A checkout of the task's work branch (`git worktree add DIR mc/work/MISSION/TASK`) whose changes {what}.",
    )


def _show(data: dict[str, Any], output: Output | ClaimOutput, line: str) -> None:
    if output in (Output.table, ClaimOutput.table):
        sys.stdout.write(line + "\n")  # a plain line: the agent commands never load rich
    else:
        emit(data, Output(str(output)))


@handle_errors
def claim(
    mission: str | None = typer.Option(
        None, "-m", "--mission", envvar="MC_MISSION", help="Only tasks of this mission (env MC_MISSION)."
    ),
    agent: str | None = typer.Option(
        None, "--agent", envvar="MC_AGENT_ID", help="Your agent id, or a unique agent name (env MC_AGENT_ID)."
    ),
    ttl: float = typer.Option(
        60.0,
        "--ttl",
        min=1.0,
        max=MAX_TTL,
        help="Lease length in seconds (at most a week); renew with `mc heartbeat` before it runs out.",
    ),
    node: str | None = typer.Option(None, "--node", envvar="MC_NODE", help="The node you run on, if any."),
    output: ClaimOutput = typer.Option(
        ClaimOutput.table,
        "-o",
        "--output",
        case_sensitive=False,
        help='Output format; env prints `export` lines for a shell: eval "$(mc claim ... -o env)".',
    ),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
    branch: str | None = branch_option(),
) -> None:
    """Take the next ready task (highest priority, then oldest) by compare-and-swap. Exit 3 if none."""
    from reconciler.agentops.claim import claim as do_claim

    if not agent:
        raise UsageError("say who you are: --agent ID or MC_AGENT_ID")
    store = open_signing_store(repo, remote, branch)
    claimed = do_claim(store, agent, time.time(), mission=mission, node=node, ttl=ttl)
    if output is ClaimOutput.env:
        sys.stdout.write("".join(f"export {k}={shlex.quote(v)}\n" for k, v in claimed.environment().items()))
        return
    data = claimed.to_dict()
    _show(
        data,
        output,
        f"claimed {data['task']} generation {data['generation']} until {data['expiresAt']} "
        f"(branch {data['workBranch']}); lease token {claimed.secret} (export MC_LEASE_TOKEN=...)",
    )


@handle_errors
def heartbeat(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Renew your lease. Refused if your generation is stale."""
    from reconciler.agentops.reports import heartbeat as do_heartbeat
    from reconciler.vocabulary.clock import iso

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    lease = do_heartbeat(store, key, lease_handle(generation, token, agent), time.time())
    _show(
        {"task": key, "generation": generation, "expiresAt": iso(lease.expires_at)},
        output,
        f"renewed {key} generation {generation} until {iso(lease.expires_at)}",
    )


@handle_errors
def usage(
    task: str = typer.Argument(..., envvar="MC_TASK", help="MISSION/TASK, or TASK (env MC_TASK)."),
    tokens: int = typer.Option(0, "--tokens", min=0, help="Model tokens this step used."),
    cost: float = typer.Option(0.0, "--cost", min=0.0, help="What this step cost, in US dollars."),
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Report spend: add TOKENS and COST to your attempt's total (it also renews the lease).

    Going over the agent's budget (spec.budget.tokens, costUsd) records the spend and fails the attempt: exit 4, stop working."""
    from reconciler.agentops.reports import usage as do_usage
    from reconciler.vocabulary.spend import Spend

    if not math.isfinite(cost):
        raise UsageError(f"--cost must be a finite number of dollars, not {cost}")
    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    lease = do_usage(store, key, lease_handle(generation, token, agent), time.time(), Spend(tokens, cost))
    limit = lease.budget
    _show(
        {"task": key, "generation": generation, "spend": lease.spend.to_dict(), "budget": limit.to_dict()},
        output,
        f"{key} generation {generation} has spent {lease.spend}" + (f" (budget: {limit})" if limit else ""),
    )


@handle_errors
def checkpoint(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    message: str = typer.Option(..., "--message", help="What this checkpoint holds."),
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    worktree: Path | None = _worktree("the checkpoint records (default: none)"),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Commit progress on the task's work branch, with trailers naming task, agent and generation."""
    from reconciler.agentops.reports import checkpoint as do_checkpoint

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    commit = do_checkpoint(store, key, lease_handle(generation, token, agent), message, time.time(), worktree)
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
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    worktree: Path | None = _worktree("the result records"),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Report success. Outputs are checked against the task's output schema; invalid ones are refused."""
    from reconciler.agentops.reports import complete as do_complete

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    handle = lease_handle(generation, token, agent)
    commit = do_complete(store, key, handle, time.time(), _read_outputs(outputs), worktree)
    _show(
        {"task": key, "generation": generation, "resultCommit": commit},
        output,
        f"completed {key}: result {commit[:12]}",
    )


@handle_errors
def fail(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    reason: str = typer.Option(..., "--reason", help="Why the attempt failed."),
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Report failure: the task is retried with backoff while attempts remain."""
    from reconciler.agentops.reports import end

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    end(store, key, lease_handle(generation, token, agent), time.time(), LeaseState.FAILED, reason)
    _show(
        {"task": key, "generation": generation, "state": str(LeaseState.FAILED)},
        output,
        f"failed {key} generation {generation}: {reason}",
    )


@handle_errors
def release(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    reason: str = typer.Option("", "--reason", help="Why you give it back."),
    mission: str | None = _mission(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Give the task back without using up an attempt."""
    from reconciler.agentops.reports import end

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    end(store, key, lease_handle(generation, token, agent), time.time(), LeaseState.RELEASED, reason)
    _show(
        {"task": key, "generation": generation, "state": str(LeaseState.RELEASED)},
        output,
        f"released {key} generation {generation}",
    )
