"""`mc audit TASK`: the chain of custody of a task, read back from Git."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from cli.audit_verify import verify
from cli.common import handle_errors, output_option, remote_option, repo_option
from cli.output import Output, emit, out
from cli.store_opts import open_store_at, task_key


def _print(doc: dict[str, Any]) -> None:
    def line(text: str) -> None:
        out.print(text, markup=False, highlight=False)

    line(f"{doc['task']}: {doc.get('phase', 'no status')}")
    declared = doc.get("declared")
    if declared:
        line(f"  declared   {declared['commit'][:12]} by {declared['author']} at {declared['at']} ({declared['path']})")
    for lease in doc["leases"]:
        how = lease["state"] + (f": {lease['reason']}" if lease.get("reason") else "")
        where = f" on {lease['node']}" if lease.get("node") else ""
        spent = lease["spend"]
        line(
            f"  lease {lease['generation']:>3} {lease['holder']}{where}, granted {lease['granted']}, "
            f"{how}, spent {spent['tokens']} tokens ${spent['cost_usd']:.4f}"
        )
    for work in doc["work"]:
        line(f"  {work['kind']:<10} {work['commit'][:12]} gen {work['generation'] or '-'}: {work['subject']}")
    for effect in doc["effects"]:
        line(f"  effect     {effect['key']} (generation {effect.get('generation')}): {effect.get('result')}")
    for approval in doc["approvals"]:
        verdict = "counts" if approval["counts"] else f"does not count: {approval['reason']}"
        who = f"{approval['principal']} {approval['fingerprint']}" if approval["principal"] else "nobody known"
        line(f"  approval   {approval['approval'][:12]} by {who}: {verdict}")
    publication = doc.get("publication")
    if publication:
        line(f"  published  {publication['commit'][:12]} ({'; '.join(publication['approvedBy']) or 'a signed merge'})")
    if "spend" in doc:
        line(f"  spend      {doc['spend']['tokens']} tokens, ${doc['spend']['cost_usd']:.4f} over every attempt")


class _AuditGroup(TyperGroup):
    """`mc audit TASK` is `mc audit show TASK`: any first word that is not a subcommand is a task."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().resolve_command(ctx, args)


audit_app = typer.Typer(
    rich_markup_mode=None,
    cls=_AuditGroup,
    help="The audit trail: `mc audit TASK` (its chain of custody) and `mc audit verify`.",
    no_args_is_help=True,
)


@audit_app.command("show")
@handle_errors
def audit(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="The task's mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """The chain of custody of TASK: declaration, leases, work, effects, spend, approvals, publication."""
    from reconciler.control.receipt import receipt

    store = open_store_at(repo, remote)
    store.sync()
    doc = receipt(store, task_key(store, task, mission))
    if output is Output.table:
        _print(doc)
    else:
        emit(doc, output)


audit_app.command("verify")(verify)


@audit_app.command("export")
@handle_errors
def export(
    task: str = typer.Argument(..., help="MISSION/TASK, or TASK."),
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="The task's mission."),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Print TASK's receipt as an in-toto statement (subject: the published commit), JSON."""
    from reconciler.control.receipt import receipt, statement

    store = open_store_at(repo, remote)
    store.sync()
    emit(statement(receipt(store, task_key(store, task, mission))), Output.json)
