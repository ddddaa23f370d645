"""What the agent commands do: `mc claim`, `heartbeat`, `usage`, `checkpoint`, `complete`, `fail`,
`release`, each called with one keyword per parameter its table declares (cli/agent_params.py).

Both the typer commands and the fast path of `mc` call these. They import no typer, rich,
jsonschema or manifests up front: each loads what it needs when it runs."""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from cli.output import ClaimOutput, Output, show
from cli.store_opts import open_signing_store, task_key
from reconciler.vocabulary.errors import UsageError
from reconciler.vocabulary.leases import LeaseHandle, LeaseState


def lease_handle(generation: int, token: str | None, agent: str | None) -> LeaseHandle:
    if not token:
        raise UsageError("say which lease you hold: --lease-token or MC_LEASE_TOKEN (printed by `mc claim`)")
    return LeaseHandle(generation, token, agent or None)


def claim(
    mission: str | None,
    agent: str | None,
    ttl: float,
    node: str | None,
    output: ClaimOutput,
    repo: str,
    remote: str | None,
    branch: str | None,
) -> None:
    from reconciler.agentops.claim import claim as do_claim

    if not agent:
        raise UsageError("say who you are: --agent ID or MC_AGENT_ID")
    store = open_signing_store(repo, remote, branch)
    claimed = do_claim(store, agent, time.time(), mission=mission, node=node, ttl=ttl)
    if output is ClaimOutput.env:
        sys.stdout.write("".join(f"export {k}={shlex.quote(v)}\n" for k, v in claimed.environment().items()))
        return
    data = claimed.to_dict()
    show(
        data,
        output,
        f"claimed {data['task']} generation {data['generation']} until {data['expiresAt']} "
        f"(branch {data['workBranch']}); lease token {claimed.secret} (export MC_LEASE_TOKEN=...)",
    )


def heartbeat(
    task: str,
    generation: int,
    token: str | None,
    agent: str | None,
    mission: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    from reconciler.agentops.reports import heartbeat as do_heartbeat
    from reconciler.vocabulary.clock import iso

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    lease = do_heartbeat(store, key, lease_handle(generation, token, agent), time.time())
    show(
        {"task": key, "generation": generation, "expiresAt": iso(lease.expires_at)},
        output,
        f"renewed {key} generation {generation} until {iso(lease.expires_at)}",
    )


def usage(
    task: str,
    tokens: int,
    cost: float,
    generation: int,
    token: str | None,
    agent: str | None,
    mission: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    from reconciler.agentops.reports import usage as do_usage
    from reconciler.vocabulary.spend import Spend

    if not math.isfinite(cost):
        raise UsageError(f"--cost must be a finite number of dollars, not {cost}")
    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    lease = do_usage(store, key, lease_handle(generation, token, agent), time.time(), Spend(tokens, cost))
    limit = lease.budget
    show(
        {"task": key, "generation": generation, "spend": lease.spend.to_dict(), "budget": limit.to_dict()},
        output,
        f"{key} generation {generation} has spent {lease.spend}" + (f" (budget: {limit})" if limit else ""),
    )


def checkpoint(
    task: str,
    message: str,
    generation: int,
    token: str | None,
    agent: str | None,
    worktree: Path | None,
    mission: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    from reconciler.agentops.reports import checkpoint as do_checkpoint

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    commit = do_checkpoint(store, key, lease_handle(generation, token, agent), message, time.time(), worktree)
    show({"task": key, "generation": generation, "commit": commit}, output, f"checkpoint {commit[:12]} on {key}")


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


def complete(
    task: str,
    outputs: str | None,
    generation: int,
    token: str | None,
    agent: str | None,
    worktree: Path | None,
    mission: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    from reconciler.agentops.reports import complete as do_complete

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    handle = lease_handle(generation, token, agent)
    commit = do_complete(store, key, handle, time.time(), _read_outputs(outputs), worktree)
    show(
        {"task": key, "generation": generation, "resultCommit": commit},
        output,
        f"completed {key}: result {commit[:12]}",
    )


def _end(
    task: str,
    generation: int,
    token: str | None,
    agent: str | None,
    mission: str | None,
    repo: str,
    remote: str | None,
    state: LeaseState,
    reason: str,
) -> str:
    """Hand the task back (`failed` or `released`); its key."""
    from reconciler.agentops.reports import end

    store = open_signing_store(repo, remote)
    key = task_key(store, task, mission)
    end(store, key, lease_handle(generation, token, agent), time.time(), state, reason)
    return key


def fail(
    task: str,
    reason: str,
    generation: int,
    token: str | None,
    agent: str | None,
    mission: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    key = _end(task, generation, token, agent, mission, repo, remote, LeaseState.FAILED, reason)
    show(
        {"task": key, "generation": generation, "state": str(LeaseState.FAILED)},
        output,
        f"failed {key} generation {generation}: {reason}",
    )


def release(
    task: str,
    generation: int,
    token: str | None,
    agent: str | None,
    reason: str,
    mission: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    key = _end(task, generation, token, agent, mission, repo, remote, LeaseState.RELEASED, reason)
    show(
        {"task": key, "generation": generation, "state": str(LeaseState.RELEASED)},
        output,
        f"released {key} generation {generation}",
    )
