"""`mc effect check KEY` and `mc effect record KEY`: the side-effect ledger, for agents."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import typer

from cli.agent_cmd import agent_option, generation_option, lease_handle, token_option
from cli.common import Output, emit, handle_errors, out, output_option, repo_option
from cli.store_opts import open_signing_store, remote_option, task_key
from reconciler.vocabulary.errors import UsageError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.leases import LeaseHandle

if TYPE_CHECKING:
    from reconciler.gitstate.store import Store

effect_app = typer.Typer(
    rich_markup_mode=None, help="The side-effect ledger: check and record idempotency keys.", no_args_is_help=True
)


def _task() -> Any:
    return typer.Option(None, "--task", envvar="MC_TASK", help="MISSION/TASK, or TASK with MC_MISSION (env MC_TASK).")


def _mission() -> Any:
    return typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="The task's mission (env MC_MISSION).")


def _held(
    task: str | None, mission: str | None, repo: str, remote: str | None, handle: LeaseHandle
) -> tuple[Store, TaskKey, LeaseHandle]:
    """The store, the task and the lease handle an effect command works under."""
    if not task:
        raise UsageError("say which task: --task or MC_TASK")
    store = open_signing_store(repo, remote)
    return store, task_key(store, task, mission), handle


def _show(data: dict[str, Any], output: Output, line: str) -> None:
    if output is Output.table:
        out.print(line, markup=False, highlight=False)
    else:
        emit(data, output)


@effect_app.command("check")
@handle_errors
def check(
    key: str = typer.Argument(..., help="The effect's idempotency key (derive it from MC_IDEMPOTENCY_KEY)."),
    task: str | None = _task(),
    mission: str | None = _mission(),
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Whether KEY is recorded, and its result: if it is, do not carry the effect out again."""
    from reconciler.agentops.effects import check_effect

    store, tkey, handle = _held(task, mission, repo, remote, lease_handle(generation, token, agent))
    entry = check_effect(store, tkey, handle, time.time(), key)
    data = {"task": tkey, "key": key, "recorded": entry is not None, **({"entry": entry} if entry else {})}
    _show(data, output, f"{key}: recorded ({json.dumps(entry)})" if entry else f"{key}: not recorded")


@effect_app.command("record")
@handle_errors
def record(
    key: str = typer.Argument(..., help="The effect's idempotency key."),
    result: str = typer.Option("null", "--result", help="The effect's result, as JSON."),
    task: str | None = _task(),
    mission: str | None = _mission(),
    generation: int = generation_option(),
    token: str | None = token_option(),
    agent: str | None = agent_option(),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Record that the effect KEY was carried out, with its result (idempotent)."""
    from reconciler.agentops.effects import record_effect

    try:
        value = json.loads(result)
    except ValueError as exc:
        raise UsageError(f"--result is not JSON: {exc}") from None
    store, tkey, handle = _held(task, mission, repo, remote, lease_handle(generation, token, agent))
    fresh, entry = record_effect(store, tkey, handle, time.time(), key, value)
    data = {"task": tkey, "key": key, "recordedNow": fresh, "entry": entry}
    _show(data, output, f"{key}: {'recorded' if fresh else 'already recorded'}")
