"""`mc get` and `mc describe`: read the manifests, as tables for people or JSON/YAML for scripts."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import Output, emit, handle_errors, out, output_option, repo_option


@handle_errors
def get(
    kind: str = typer.Argument(..., help="missions, klusters, agents, policies or tasks."),
    mission: str | None = typer.Option(None, "-m", "--mission", help="Only this mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
    rev: str | None = typer.Option(None, "--rev", help="Read this Git revision instead of the files on disk."),
) -> None:
    """List objects of one kind."""
    from cli import get_render as render
    from cli.desired_view import document, kind_of, load_desired, objects

    k = kind_of(kind)
    snapshot, state = load_desired(repo, rev)
    found = objects(state, k, mission)
    if output is not Output.table:
        emit([document(snapshot, o, render.status(o, state)) for o in found], output)
        return
    headers, row = render.COLUMNS[k]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for h in headers:
        table.add_column(h, overflow="fold")
    for obj in found:
        table.add_row(*(escape(c) for c in row(obj, state)))
    out.print(table)


@handle_errors
def describe(
    kind: str = typer.Argument(..., help="mission, kluster, agent, policy or task."),
    name: str = typer.Argument(..., help="NAME, or MISSION/NAME."),
    mission: str | None = typer.Option(None, "-m", "--mission", help="The mission, when NAME is ambiguous."),
    output: Output = output_option(),
    repo: str = repo_option(),
    rev: str | None = typer.Option(None, "--rev", help="Read this Git revision instead of the files on disk."),
) -> None:
    """Show one object in detail."""
    from cli import get_render as render
    from cli.desired_view import document, find, kind_of, load_desired

    k = kind_of(kind)
    snapshot, state = load_desired(repo, rev)
    obj = find(state, k, name, mission)
    if output is not Output.table:
        emit(document(snapshot, obj, render.status(obj, state)), output)
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in render.describe_lines(obj, state):
        table.add_row(key + ":", escape(value))
    out.print(table)
