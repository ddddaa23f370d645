"""`mc approve TASK`: a signed approval of the exact result a task awaits approval with, and
`mc policy explain TASK`: which rules govern it, and which approvals count and why not."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from cli.common import Output, emit, handle_errors, out, output_option, repo_option
from cli.store_opts import open_store_at, remote_option, task_key
from reconciler.vocabulary.errors import UsageError

if TYPE_CHECKING:
    from reconciler.governance.gate import Gate

policy_app = typer.Typer(help="Policies: what governs a task, and which approvals count.", no_args_is_help=True)


def _gate_doc(gate: Gate) -> dict[str, Any]:
    return {
        "task": gate.task,
        "action": str(gate.action),
        "commit": gate.commit,
        "open": gate.governed and gate.open,
        "rules": [
            {
                "policy": r.policy,
                "version": r.version,
                "rule": r.rule,
                "needs": r.needs,
                "accepts": r.accepts,
                "counted": r.counted,
                "met": r.met,
            }
            for r in gate.rules
        ],
        "approvals": [
            {
                "approval": v.approval,
                "principal": v.principal,
                "fingerprint": v.fingerprint,
                "counts": v.counts,
                "reason": v.reason,
            }
            for v in gate.verdicts
        ],
    }


def _print_gate(gate: Gate) -> None:
    state = "open" if gate.governed and gate.open else "closed"
    out.print(f"{gate.task} {gate.action} gate for {str(gate.commit)[:12]}: {state}", markup=False)
    if not gate.rules:
        out.print("  no active rule governs it: nothing can approve it until a policy does", markup=False)
    for r in gate.rules:
        have = ", ".join(r.counted) or "none"
        out.print(f"  {r.policy}@{r.version} rule {r.rule}: {len(r.counted)} of {r.needs} from {r.accepts} ({have})")
    for v in gate.verdicts:
        verdict = "counts" if v.counts else f"does not count: {v.reason}"
        who = f"{v.principal} ({v.fingerprint})" if v.principal else "nobody known"
        out.print(f"  approval {v.approval[:12]} by {who}: {verdict}", markup=False)


class Action(StrEnum):
    publish = "publish"
    run = "run"


def _gate(
    repo: str, remote: str | None, task: str, mission: str | None, action: Action = Action.publish
) -> tuple[Any, Any, Any, Gate]:
    import pygit2

    from reconciler.control.gates import Gates, desired_at
    from reconciler.gitstate.status import read_status
    from reconciler.vocabulary.kinds import PolicyAction

    store = open_store_at(repo, remote)
    store.sync()
    key = task_key(store, task, mission)
    state, commit = desired_at(store)
    declared = state.task(key)
    if declared is None:
        raise UsageError(f"{key} is not declared on {store.branch}")
    if action is Action.run:  # what a run approval approves: the task's manifest as main has it
        spec = str(store.repo[commit].peel(pygit2.Commit).tree[declared.path].id)
        return store, key, commit, Gates(store).gate(state, commit, declared, PolicyAction.RUN, spec)
    st = read_status(store).tasks.get(key)
    result = st.result_commit if st is not None else None
    return store, key, commit, Gates(store).gate(state, commit, declared, PolicyAction.PUBLISH, result)


@handle_errors
def approve(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    message: str = typer.Option("", "--message", help="Why you approve (kept in the signed approval)."),
    action: Action = typer.Option(
        Action.publish, "--action", help="publish: the result awaiting approval; run: the task's manifest, to start."
    ),
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="The task's mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Approve exactly what TASK waits for: its result (publish) or its manifest (run), with a commit
    signed with your own key (git's signing configuration: gpg.format ssh, user.signingkey),
    recorded under refs/mc/approvals/MISSION/TASK. It counts if your key is in principals.yaml and
    the policy accepts you (see `mc policy explain`)."""
    from reconciler.gitstate.approvals import record_approval
    from reconciler.vocabulary.kinds import PolicyAction
    from reconciler.vocabulary.trailers import Trailer

    store, key, desired, gate = _gate(repo, remote, task, mission, action)
    if gate.commit is None:
        raise UsageError(f"{key} has no result to approve yet; see `mc describe task {key}`")
    if not gate.rules:
        raise UsageError(f"no active policy rule governs the {action} of {key}: there is nothing to approve")
    policies = sorted({f"{r.policy}@{r.version}" for r in gate.rules})
    if len(policies) > 1:
        raise UsageError(f"several policies govern {key} ({', '.join(policies)}); one approval names one policy")
    trailers: dict[Trailer, object] = {
        Trailer.TASK: key,
        Trailer.ACTION: PolicyAction(action.value),
        Trailer.APPROVES: gate.commit,
        Trailer.POLICY: policies[0],
        Trailer.DESIRED: desired,
    }
    approval = record_approval(store, key, f"Approve {action} of {key}", message, trailers)
    _, _, _, after = _gate(repo, remote, task, mission, action)
    if output is Output.table:
        what = "result" if action is Action.publish else "manifest"
        out.print(f"approval {approval[:12]} recorded for {key} {what} {gate.commit[:12]}", markup=False)
        _print_gate(after)
    else:
        emit({"approval": approval, **_gate_doc(after)}, output)


@policy_app.command("explain")
@handle_errors
def explain(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    action: Action = typer.Option(Action.publish, "--action", help="publish (default) or run."),
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="The task's mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Which rules govern TASK's action (publish, or run), what they need, and which approvals count."""
    *_, gate = _gate(repo, remote, task, mission, action)
    if output is Output.table:
        _print_gate(gate)
    else:
        emit(_gate_doc(gate), output)


@policy_app.command("rollback")
@handle_errors
def rollback(
    policy: str = typer.Argument(..., help="MISSION/POLICY."),
    to: int = typer.Option(..., "--to", min=1, help="The version whose rules to bring back."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Bring back an earlier version of a policy, through a commit on the desired-state branch.

    The file is restored as it was at version TO, under a new version number (the highest so far,
    plus one), so that approvals made under the newer versions, or under TO itself, are not
    replayed."""
    from reconciler.control.policy_history import rollback as do_rollback

    store = open_store_at(repo, remote)
    store.sync()
    if "/" not in policy:
        raise UsageError(f"say which mission's policy: MISSION/POLICY, not {policy!r}")
    mission, name = policy.split("/", 1)
    commit, version = do_rollback(store, mission, name, to)
    data = {"policy": policy, "restored": to, "version": version, "commit": commit}
    if output is Output.table:
        out.print(f"{policy}: version {to}'s rules are back as version {version} ({commit[:12]})", markup=False)
    else:
        emit(data, output)
