"""`mc audit verify`: re-check fencing and publications from Git alone (exit 1 on any finding)."""

from __future__ import annotations

import typer

from cli.common import Output, emit, handle_errors, out, output_option, repo_option
from cli.store_opts import open_store_at, remote_option


@handle_errors
def verify(
    mission: str | None = typer.Option(None, "--mission", "-m", envvar="MC_MISSION", help="Only this mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """Re-check the record: no result from a generation the lease chain did not complete, and no
    publication without the approvals it needs. Exit 1 naming each inconsistency."""
    from reconciler.control.verify import verify as do_verify

    store = open_store_at(repo, remote)
    store.sync()
    findings = do_verify(store, mission)
    if output is Output.table:
        for finding in findings:
            out.print(str(finding), markup=False, highlight=False)
        out.print(f"{len(findings)} inconsistencies" if findings else "the record holds: 0 inconsistencies")
    else:
        emit([{"task": f.task, "commit": f.commit, "problem": f.problem} for f in findings], output)
    if findings:
        raise typer.Exit(1)
