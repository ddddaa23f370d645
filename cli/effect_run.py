"""What `mc effect check` and `mc effect record` do (the side-effect ledger, for agents), each
called with one keyword per parameter its table declares (cli/agent_params.py)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from cli.agent_run import lease_handle
from cli.output import Output, show
from cli.store_opts import open_signing_store, task_key
from reconciler.vocabulary.errors import UsageError

if TYPE_CHECKING:
    from reconciler.gitstate.store import Store
    from reconciler.vocabulary.keys import TaskKey
    from reconciler.vocabulary.leases import LeaseHandle


def _held(
    task: str | None, mission: str | None, repo: str, remote: str | None, handle: LeaseHandle
) -> tuple[Store, TaskKey, LeaseHandle]:
    """The store, the task and the lease handle an effect command works under."""
    if not task:
        raise UsageError("say which task: --task or MC_TASK")
    store = open_signing_store(repo, remote)
    return store, task_key(store, task, mission), handle


def check(
    key: str,
    task: str | None,
    mission: str | None,
    generation: int,
    token: str | None,
    agent: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    from reconciler.agentops.effects import check_effect

    store, tkey, handle = _held(task, mission, repo, remote, lease_handle(generation, token, agent))
    entry = check_effect(store, tkey, handle, time.time(), key)
    data = {"task": tkey, "key": key, "recorded": entry is not None, **({"entry": entry} if entry else {})}
    show(data, output, f"{key}: recorded ({json.dumps(entry)})" if entry else f"{key}: not recorded")


def record(
    key: str,
    result: str,
    task: str | None,
    mission: str | None,
    generation: int,
    token: str | None,
    agent: str | None,
    output: Output,
    repo: str,
    remote: str | None,
) -> None:
    from reconciler.agentops.effects import record_effect

    try:
        value = json.loads(result)
    except ValueError as exc:
        raise UsageError(f"--result is not JSON: {exc}") from None
    store, tkey, handle = _held(task, mission, repo, remote, lease_handle(generation, token, agent))
    fresh, entry = record_effect(store, tkey, handle, time.time(), key, value)
    data = {"task": tkey, "key": key, "recordedNow": fresh, "entry": entry}
    show(data, output, f"{key}: {'recorded' if fresh else 'already recorded'}")
