"""`mc get` and `mc describe`: read the manifests, as tables for people or JSON/YAML for scripts."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import Output, emit, handle_errors, output_option, print_table, repo_option


@handle_errors
def get(
    kind: str = typer.Argument(..., help="missions, klusters, agents, policies, tasks or leases."),
    mission: str | None = typer.Option(None, "-m", "--mission", help="Only this mission."),
    output: Output = output_option(),
    repo: str = repo_option(),
    rev: str | None = typer.Option(None, "--rev", help="Read this Git revision instead of the files on disk."),
) -> None:
    """List objects of one kind (tasks with their live phase and holder)."""
    from cli import get_render as render
    from cli import observed_view
    from cli.desired_view import document, kind_of, load_desired, objects

    if kind.lower() in ("lease", "leases"):
        _leases(repo, mission, output)
        return
    k = kind_of(kind)
    snapshot, state = load_desired(repo, rev)
    found = objects(state, k, mission)
    observed = observed_view.statuses(repo) if k == "Task" else {}
    if output is not Output.table:
        emit([document(snapshot, o, render.status(o, state, observed)) for o in found], output)
        return
    headers, row = render.COLUMNS[k]
    _table(headers, [row(obj, state, observed) for obj in found])


def _table(headers: list[str], rows: list[list[str]]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for i, h in enumerate(headers):
        table.add_column(h, overflow="fold", no_wrap=i < 2)
    for cells in rows:
        table.add_row(*(escape(c) for c in cells))
    print_table(table)


def _leases(repo: str, mission: str | None, output: Output) -> None:
    import time

    from cli import get_render as render
    from cli import observed_view

    found = observed_view.leases(repo, mission)
    if output is not Output.table:
        emit([render.lease_doc(key, lease) for key, lease in found], output)
        return
    now = time.time()
    _table(render.LEASE_COLUMNS, [render.lease_row(key, lease, now) for key, lease in found])


@handle_errors
def describe(
    kind: str = typer.Argument(..., help="mission, kluster, agent, policy or task."),
    name: str = typer.Argument(..., help="NAME, or MISSION/NAME."),
    mission: str | None = typer.Option(None, "-m", "--mission", help="The mission, when NAME is ambiguous."),
    output: Output = output_option(),
    repo: str = repo_option(),
    rev: str | None = typer.Option(None, "--rev", help="Read this Git revision instead of the files on disk."),
) -> None:
    """Show one object in detail (a task with its conditions and transition history)."""
    from cli import get_render as render
    from cli import observed_view
    from cli.desired_view import document, find, kind_of, load_desired

    k = kind_of(kind)
    snapshot, state = load_desired(repo, rev)
    obj = find(state, k, name, mission)
    observed = observed_view.statuses(repo) if k == "Task" else {}
    if output is not Output.table:
        emit(document(snapshot, obj, render.status(obj, state, observed)), output)
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in render.describe_lines(obj, state, observed):
        table.add_row(key + ":", escape(value))
    print_table(table)
