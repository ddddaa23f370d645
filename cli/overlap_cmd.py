"""`mc overlap check`: what a task you are about to create overlaps with; `mc index rebuild`:
recreate the overlap index from Git alone. The index, the model and LanceDB load only here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from cli.common import handle_errors, output_option, remote_option, repo_option
from cli.output import Output, emit, err, out, print_table
from cli.store_opts import open_store_at
from reconciler.vocabulary.errors import UsageError

if TYPE_CHECKING:
    from reconciler.control.overlap_check import OverlapChecker, Report
    from reconciler.gitstate.store import Store

overlap_app = typer.Typer(
    rich_markup_mode=None, help="Overlap: what a new task would duplicate, or collide with.", no_args_is_help=True
)
index_app = typer.Typer(
    rich_markup_mode=None, help="The overlap index under .mc/index/ (never committed).", no_args_is_help=True
)


def resolve(store: Store, rev: str | None) -> str:
    """The commit to check against: REV, or the desired-state branch's tip."""
    import pygit2

    if rev is None:
        return store.require_desired()
    try:
        return str(store.repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        raise UsageError(f"no commit {rev!r} in this repository") from None


def run_check(
    store: Store,
    commit: str,
    mission: str,
    title: str,
    description: str,
    paths: list[str],
    all_missions: bool,
    exclude: frozenset[str] = frozenset(),
    checker: OverlapChecker | None = None,
) -> Report:
    from reconciler.control.overlap_check import OverlapChecker, Query, thresholds_at
    from reconciler.gitstate.status import read_status
    from reconciler.manifests.globs import GlobError, check_glob

    if not title.strip():
        raise UsageError("--title must say what the task is")
    for glob in paths:
        try:
            check_glob(glob)
        except GlobError as exc:
            raise UsageError(f"--paths {glob!r}: {exc}") from None
    known = thresholds_at(store.repo, commit)
    if mission not in known:
        raise UsageError(f"no mission {mission!r} at {commit[:12]} (missions: {', '.join(sorted(known)) or 'none'})")
    checker = checker or OverlapChecker(store)
    query = Query(mission, title, description, tuple(paths), all_missions, exclude)
    return checker.check(query, commit, read_status(store).tasks, known)


def print_report(report: Report) -> None:
    from rich.table import Table

    if report.semantic:
        err.print(f"warning: semantic scores are off: {report.semantic}", markup=False)
    if not report.matches:
        out.print("no overlapping tasks", markup=False)
    else:
        table = Table(box=None, pad_edge=False)
        for column in ("TASK", "PHASE", "SCORE", "LEVEL", "FUZZY", "LEXICAL", "SEMANTIC", "REASON"):
            table.add_column(column)
        for m in report.matches:
            lexical = "-" if m.lexical is None else f"{m.lexical:.2f}"
            semantic = "-" if m.semantic is None else f"{m.semantic:.2f}"
            name = m.task if m.kind == "task" else f"{m.task} (result)"
            table.add_row(
                name, m.phase or "-", f"{m.score:.2f}", m.level, f"{m.fuzzy:.2f}", lexical, semantic, m.reason
            )
        print_table(table)
    for c in report.conflicts:
        out.print(f"path conflict: {c.task} ({c.phase}) may touch {', '.join(c.paths)}", markup=False)


@overlap_app.command("check")
@handle_errors
def check(
    mission: str = typer.Option(..., "--mission", "-m", envvar="MC_MISSION", help="The mission the task is for."),
    title: str = typer.Option(..., "--title", help="The new task's title."),
    description: str = typer.Option("", "--description", help="What it is to do."),
    paths: list[str] = typer.Option([], "--paths", help="A path glob the task may touch (repeatable)."),
    all_missions: bool = typer.Option(False, "--all-missions", help="Look in every mission, not only this one."),
    rev: str | None = typer.Option(None, "--rev", help="Check against this commit (default: the desired state)."),
    output: Output = output_option(),
    repo: str = repo_option(),
    remote: str | None = remote_option(),
) -> None:
    """What a task you are about to create overlaps with: ranked matches (fuzzy, full-text and
    semantic scores, one combined score, a level at the mission's thresholds, and the reason in
    words) and path conflicts with tasks Queued, Leased or Running. It informs; it never decides."""
    store = open_store_at(repo, remote)
    store.sync()
    report = run_check(store, resolve(store, rev), mission, title, description, paths, all_missions)
    if output is Output.table:
        print_report(report)
    else:
        emit(report.doc(), output)


@index_app.command("rebuild")
@handle_errors
def rebuild(
    rev: str | None = typer.Option(None, "--rev", help="Index this commit (default: the desired state)."),
    output: Output = output_option(),
    repo: str = repo_option(),
) -> None:
    """Recreate the overlap index (.mc/index/) from Git alone: every task of every mission and
    every published result, each embedded."""
    from rich.progress import Progress

    from reconciler.control.overlap_check import embedder_or_reason
    from reconciler.overlap.index import OverlapIndex

    store = open_store_at(repo, None)
    commit = resolve(store, rev)
    embedder, why_not = embedder_or_reason()
    if why_not:
        err.print(f"warning: semantic scores are off: {why_not}", markup=False)
    index = OverlapIndex(store.repo, embedder)
    with Progress(console=err, transient=True, disable=output is not Output.table) as bar:
        job = bar.add_task("embedding", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        rows = index.rebuild(commit, progress)
    data: dict[str, Any] = {"commit": commit, "rows": rows, "model": index.model, "path": str(index.root)}
    if output is Output.table:
        out.print(f"indexed {rows} items at {commit[:12]} in {index.root}", markup=False)
    else:
        emit(data, output)
