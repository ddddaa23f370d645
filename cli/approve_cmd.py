"""`mc approve TASK`: a signed approval of the exact result (or manifest) a task waits with;
`mc approve --change COMMIT`: of a change to policies or principals; and `mc policy explain`,
`mc policy changes`: which rules govern them, and which approvals count and why not."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cli.common import handle_errors, output_option, remote_option, repo_option
from cli.output import Output, emit, out
from cli.store_opts import open_store_at, task_key
from reconciler.vocabulary.errors import UsageError

if TYPE_CHECKING:
    from reconciler.control.governed import Change
    from reconciler.gitstate.store import Store
    from reconciler.governance.gate import Gate

policy_app = typer.Typer(
    rich_markup_mode=None, help="Policies: what governs a task, and which approvals count.", no_args_is_help=True
)


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
    gates = Gates(store)  # one walk of the policies and principals in force, for both
    state, commit = desired_at(store, governance=gates.governance)
    declared = state.task(key)
    if declared is None:
        raise UsageError(f"{key} is not declared on {store.branch}")
    if action is Action.run:  # what a run approval approves: the task's manifest as main has it
        spec = str(store.repo[commit].peel(pygit2.Commit).tree[declared.path].id)
        return store, key, commit, gates.gate(state, commit, declared, PolicyAction.RUN, spec)
    st = read_status(store).tasks.get(key)
    result = st.result_commit if st is not None else None
    return store, key, commit, gates.gate(state, commit, declared, PolicyAction.PUBLISH, result)


@handle_errors
def approve(
    task: str | None = typer.Argument(None, help="MISSION/TASK, or TASK (not with --change)."),
    message: str = typer.Option("", "--message", help="Why you approve (kept in the signed approval)."),
    action: Action = typer.Option(
        Action.publish, "--action", help="publish: the result awaiting approval; run: the task's manifest, to start."
    ),
    change: str | None = typer.Option(
        None, "--change", help="Approve the change to principals.yaml or policies that this commit makes."
    ),
    print_statement: bool = typer.Option(
        False, "--print-statement", help="Print the approval statement (to sign with sigstore elsewhere) and stop."
    ),
    sigstore_bundle: Path | None = typer.Option(
        None, "--sigstore-bundle", help="Record this sigstore bundle over --statement instead of signing with SSH."
    ),
    statement_file: Path | None = typer.Option(
        None, "--statement", help="The statement the sigstore bundle signs (from --print-statement)."
    ),
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="The task's mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Approve exactly what TASK waits for: its result (publish) or its manifest (run), with a commit
    signed with your own key (git's signing configuration: gpg.format ssh, user.signingkey),
    recorded under refs/mc/approvals/MISSION/TASK; or, with --sigstore-bundle, a sigstore bundle
    over the statement that --print-statement prints. With --change COMMIT, approve the change to
    policies or principals that COMMIT makes on the desired-state branch. It counts if your key is
    in principals.yaml and the policy accepts you (see `mc policy explain`)."""
    if change is not None:
        if task is not None:
            raise UsageError("say either TASK or --change COMMIT, not both")
        _approve_change(repo, remote, change, message, output)
        return
    if task is None:
        raise UsageError("say which TASK to approve (or --change COMMIT for a change to policies or principals)")
    from reconciler.gitstate.approvals import approvals_ref, record_approval, record_sigstore_approval, statement
    from reconciler.vocabulary.kinds import PolicyAction
    from reconciler.vocabulary.trailers import Trailer, parse

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
    text = statement(f"Approve {action} of {key}", message, trailers)
    if print_statement:
        typer.echo(text, nl=False)
        return
    if sigstore_bundle is not None or statement_file is not None:
        if sigstore_bundle is None or statement_file is None:
            raise UsageError("a sigstore approval needs both --sigstore-bundle and --statement")
        signed = _read(statement_file)
        claims = parse(signed.decode("utf-8", "replace"))
        wanted = {t: str(v) for t, v in trailers.items() if t is not Trailer.DESIRED}
        differ = [f"{t}: {claims.get(t)!r}, not {v!r}" for t, v in wanted.items() if claims.get(t) != v]
        if differ:
            raise UsageError(
                f"{statement_file} is not a statement approving what {key} waits for ({'; '.join(differ)}); "
                "print the current one with --print-statement and sign that"
            )
        approval = record_sigstore_approval(store, approvals_ref(key), signed, _read(sigstore_bundle), "sigstore")
    else:
        approval = record_approval(store, approvals_ref(key), text)
    _, _, _, after = _gate(repo, remote, task, mission, action)
    if output is Output.table:
        what = "result" if action is Action.publish else "manifest"
        out.print(f"approval {approval[:12]} recorded for {key} {what} {gate.commit[:12]}", markup=False)
        _print_gate(after)
    else:
        emit({"approval": approval, **_gate_doc(after)}, output)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _changes(store: Store, commit: str | None) -> list[Change]:
    """The governed changes the desired-state branch made at `commit` (every one, for None)."""
    import pygit2

    from reconciler.control.governed import Governance

    tip = store.require_desired()
    changes = Governance(store).at(tip).changes
    if commit is None:
        return list(changes)
    try:
        full = str(store.repo.revparse_single(commit).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        raise UsageError(f"no commit {commit!r} in this repository") from None
    found = [c for c in changes if c.commit == full]
    if not found:
        raise UsageError(
            f"{commit} changes no policy or principals file on {store.branch}'s first-parent history: nothing to approve"
        )
    return found


def _approve_change(repo: str, remote: str | None, commit: str, message: str, output: Output) -> None:
    from reconciler.gitstate.approvals import CHANGES_REF, record_approval, statement
    from reconciler.vocabulary.trailers import Trailer

    store = open_store_at(repo, remote)
    store.sync()
    governed = [c for c in _changes(store, commit) if c.gate is not None]
    if not governed:
        raise UsageError(f"no rule governs the changes {commit} makes: they are in force without approval")
    recorded = []
    for change in governed:
        assert change.gate is not None
        policies = sorted({f"{r.policy}@{r.version}" for r in change.gate.rules})
        trailers: dict[Trailer, object] = {
            Trailer.TARGET: change.path,
            Trailer.ACTION: change.action,
            Trailer.APPROVES: change.commit,
            Trailer.POLICY: policies[0],
        }
        text = statement(f"Approve {change.action} of {change.path}", message, trailers)
        recorded.append(record_approval(store, CHANGES_REF, text))
    after = _changes(store, commit)
    if output is Output.table:
        for approval, change in zip(recorded, governed, strict=True):
            out.print(f"approval {approval[:12]} recorded for the change to {change.path}", markup=False)
        for change in after:
            _print_change(change)
    else:
        emit({"approvals": recorded, "changes": [_change_doc(c) for c in after]}, output)


def _change_doc(change: Change) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "commit": change.commit,
        "path": change.path,
        "action": str(change.action),
        "in_force": change.in_force,
    }
    if change.gate is not None:
        doc["gate"] = _gate_doc(change.gate)
    return doc


def _print_change(change: Change) -> None:
    state = "in force" if change.in_force else "NOT in force (waiting for approval)"
    out.print(f"{change.commit[:12]} {change.action} {change.path}: {state}", markup=False)
    if change.gate is None:
        out.print("  no rule of the version before it governed the change", markup=False)
    else:
        _print_gate(change.gate)


@policy_app.command("changes")
@handle_errors
def changes(
    commit: str | None = typer.Argument(None, help="Only the changes this commit makes."),
    show_all: bool = typer.Option(False, "--all", help="Every change, also those in force."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Changes to principals.yaml and policies on the desired-state branch, and whether each is
    in force: a change that the version before it governs waits until enough approvals of it
    count (`mc approve --change COMMIT`). By default, only the changes not in force."""
    store = open_store_at(repo, remote)
    store.sync()
    found = [c for c in _changes(store, commit) if show_all or commit is not None or not c.in_force]
    if output is not Output.table:
        emit({"changes": [_change_doc(c) for c in found]}, output)
        return
    if not found:
        out.print("every change to policies and principals is in force", markup=False)
    for change in found:
        _print_change(change)


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
