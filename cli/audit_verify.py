"""`mc audit verify`: re-check fencing and publications from Git alone (exit 1 on any finding)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from cli.common import handle_errors, output_option, remote_option, repo_option
from cli.output import Output, emit, out
from cli.store_opts import open_store_at
from reconciler.vocabulary.errors import UsageError


@handle_errors
def verify(
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="Only this mission."),
    statement: Path | None = typer.Option(
        None, "--statement", help="Check an in-toto statement (`mc audit export`) against the repository instead."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every custody warning, not the first few."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Re-check the record: no result from a generation the lease chain did not complete, and no
    publication without the approvals it needs. Exit 1 naming each inconsistency. Custody commits
    not signed by a node or reconciler principal are warnings, or inconsistencies when the mission
    sets spec.audit.requireSignedCustody."""
    from reconciler.control.verify import verify as do_verify

    store = open_store_at(repo, remote)
    store.sync()
    if statement is not None:
        _check_statement(store, statement, output)
        return
    found = do_verify(store, mission)
    findings = [f for f in found if f.severity == "error"]
    # Custody signatures the mission does not require: printed, the exit status unchanged (with
    # -o json/yaml on stderr, so that stdout stays the list of inconsistencies).
    warnings = [f for f in found if f.severity != "error"]
    if output is Output.table:
        for finding in findings:
            out.print(str(finding), markup=False, highlight=False)
        shown = warnings if verbose else warnings[:WARNINGS_SHOWN]
        for warning in shown:
            out.print(f"warning: {warning}", markup=False, highlight=False)
        if len(shown) < len(warnings):
            out.print(
                f"... and {len(warnings) - len(shown)} more custody warnings (--verbose lists them); custody commits "
                "are signed by nodes and reconcilers started with --signing-key and declared in principals.yaml",
                markup=False,
            )
        n = len(findings)
        summary = f"{n} inconsistenc{'y' if n == 1 else 'ies'}" if n else "the record holds: 0 inconsistencies"
        w = len(warnings)
        out.print(summary + (f", {w} custody warning{'' if w == 1 else 's'}" if w else ""))
    else:
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
        emit([{"task": f.task, "commit": f.commit, "problem": f.problem} for f in findings], output)
    if findings:
        raise typer.Exit(1)


WARNINGS_SHOWN = 5


def _check_statement(store: Any, path: Path, output: Output) -> None:
    from reconciler.control.receipt import statement_findings

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    problems = statement_findings(store, data)
    if output is Output.table:
        for problem in problems:
            out.print(f"{path}: {problem}", markup=False, highlight=False)
        out.print("the statement holds" if not problems else f"{len(problems)} inconsistencies")
    else:
        emit({"statement": str(path), "problems": problems}, output)
    if problems:
        raise typer.Exit(1)
