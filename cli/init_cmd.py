"""`mc init`: create a ready mission repository."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import handle_errors, output_option
from cli.output import Output, emit, out


@handle_errors
def init(
    path: Path = typer.Argument(Path("."), help="Where to create the repository.", show_default=False),
    mission: str = typer.Option("my-mission", "--mission", "-m", help="Name of the first mission."),
    owner: str = typer.Option("admin", "--owner", help="Name of the first principal, who owns the mission."),
    output: Output = output_option(),
) -> None:
    """Create a mission repository (git init if needed); existing files are kept, so it is safe to rerun."""
    from reconciler.gitstate.bootstrap import init_repository

    result = init_repository(path, mission, owner)
    if output is not Output.table:
        emit(
            {
                "root": str(result.root),
                "created": result.created,
                "kept": result.kept,
                "gitInitialised": result.git_initialised,
                "commit": result.commit,
            },
            output,
        )
        return
    if result.git_initialised:
        out.print(f"initialised a Git repository in {result.root}")
    for rel in result.created:
        out.print(f"created  {rel}")
    for rel in result.kept:
        out.print(f"kept     {rel}")
    if result.commit:
        out.print(f"committed {result.commit[:12]} (the files created above)")
    out.print(f"next: mc validate {path}")
