"""`mc get` and `mc describe`: read the manifests, as tables for people or JSON/YAML for scripts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from cli.common import handle_errors, output_option, repo_option
from cli.output import Output, emit, err, print_table
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import Kind

if TYPE_CHECKING:
    from reconciler.manifests.manifest_file import ManifestFile
    from reconciler.vocabulary.status import TaskStatus


@handle_errors
def get(
    kind: str = typer.Argument(..., help="missions, klusters, agents, policies, tasks, leases or nodes."),
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
    if kind.lower() in ("node", "nodes"):
        _nodes(repo, output)
        return
    k = kind_of(kind)
    snapshot, state = load_desired(repo, rev)
    found = objects(state, k, mission)
    observed = observed_view.statuses(repo) if k == Kind.TASK else {}
    if output is not Output.table:
        emit([document(snapshot, o, render.status(o, state, observed)) for o in found], output)
        return
    headers, row = render.COLUMNS[k]
    _table(headers, [row(obj, state, observed) for obj in found])
    if k == Kind.TASK and found and not observed_view.has_status(repo):
        err.print(NO_STATUS, markup=False, highlight=False)


def _table(headers: list[str], rows: list[list[str]]) -> None:
    from rich.markup import escape
    from rich.table import Table

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


def _nodes(repo: str, output: Output) -> None:
    import time

    from cli import get_render as render
    from cli.store_opts import open_store_at
    from reconciler.gitstate.nodes import read_nodes

    found = read_nodes(open_store_at(repo, None))
    now = time.time()
    if output is not Output.table:
        emit([render.node_doc(name, record, now) for name, record in found], output)
        return
    _table(render.NODE_COLUMNS, [render.node_row(name, record, now) for name, record in found])


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
    from cli.desired_view import document, find, find_invalid, kind_of, load_desired

    k = kind_of(kind)
    snapshot, state = load_desired(repo, rev)
    broken = find_invalid(snapshot, k, name, mission)
    if broken is not None:  # a manifest that stopped validating: show it with its findings and status
        _describe_invalid(broken, observed_view.statuses(repo), output)
        return
    obj = find(state, k, name, mission)
    observed = observed_view.statuses(repo) if k == Kind.TASK else {}
    if output is not Output.table:
        emit(document(snapshot, obj, render.status(obj, state, observed)), output)
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in render.describe_lines(obj, state, observed):
        table.add_row(key + ":", escape(value))
    print_table(table)


NO_STATUS = "note: no status yet: the reconciler has not run a pass here (`mc reconcile`, or `mc reconciler run`)"


def _describe_invalid(mf: ManifestFile, observed: dict[str, TaskStatus], output: Output) -> None:
    from cli import get_render as render

    name, mission = mf.declared_name(), mf.location.mission or ""
    key = TaskKey.of(mission, name)
    findings = [f.as_dict() for f in mf.findings]
    st = observed.get(key)
    if output is not Output.table:
        emit(
            {
                "kind": str(mf.location.kind),
                "metadata": {"name": name},
                "status": {
                    "mission": mission,
                    "source": mf.path,
                    "valid": False,
                    "findings": findings,
                    **(st.to_dict() if st is not None else {"phase": None}),
                },
            },
            output,
        )
        return
    rows = [("Kind", str(mf.location.kind)), ("Name", name), ("Mission", mission), ("Source", mf.path)]
    rows += [("Manifest", "invalid: it is frozen, not cancelled, until it validates again (mc validate)")]
    rows += [("Finding", f"{mf.path}:{f['line']}:{f['column']}: {f['field'] or '-'}: {f['message']}") for f in findings]
    if mf.location.kind == Kind.TASK:
        rows += render.observed_lines(st)
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label + ":", escape(value))
    print_table(table)
