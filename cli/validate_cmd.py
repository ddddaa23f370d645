"""`mc validate`: check a mission repository's manifests, for people, scripts and CI."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli.common import handle_errors, repo_option
from cli.output import emit_json, err, out

if TYPE_CHECKING:
    from reconciler.manifests.findings import Finding
    from reconciler.manifests.loader import Snapshot


class Format(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def _gh_escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def _github(f: Finding, file: str) -> str:
    props = [f"file={_gh_escape(file, prop=True)}"]
    if f.line:
        props += [f"line={f.line}", f"col={f.column}"]
    props.append(f"title={_gh_escape('mc validate: ' + f.rule, prop=True)}")
    text = f"{f.field}: {f.message}" if f.field else f.message
    return f"::{f.severity} {','.join(props)}::{_gh_escape(text)}"


def _text(f: Finding, file: str) -> str:
    from rich.markup import escape

    where = f"{file}:{f.line}:{f.column}" if f.line else file
    colour = "red" if f.severity == "error" else "yellow"
    field = f"{f.field}: " if f.field else ""
    return f"{escape(where)}: [{colour}]{f.severity}[/{colour}]: {escape(field + f.message)} [dim]\\[{f.rule}][/dim]"


def _policy_versions(root: Path, base: str, snapshot: Snapshot) -> list[Finding]:
    from reconciler.manifests.policy_versions import policy_version_findings
    from reconciler.manifests.source import discover, tree_at

    repo, prefix = discover(root)
    if repo is None:
        return []
    return policy_version_findings(repo, tree_at(repo, base, prefix), snapshot)


def _overlaps(root: Path, rev: str | None, base: str, snapshot: Snapshot) -> list[Finding]:
    """Strong overlaps of the tasks the change adds (a mission repository at its Git root only)."""
    import pygit2

    from reconciler.control.overlap_review import review
    from reconciler.gitstate.store import open_store
    from reconciler.manifests.desired import index
    from reconciler.manifests.source import discover

    repo, prefix = discover(root)
    if repo is None or prefix:
        err.print("note: overlap checks need the mission repository at its Git root; skipped", markup=False)
        return []
    store = open_store(repo, None)
    base_commit = str(repo.revparse_single(base).peel(pygit2.Commit).id)
    head = str(repo.revparse_single(rev).peel(pygit2.Commit).id) if rev is not None else None
    if head is None and not repo.head_is_unborn:
        head = str(repo.head.peel(pygit2.Commit).id)
    missions = [ms.mission for ms in index(snapshot.manifests()).missions.values() if ms.mission is not None]
    return review(store, base_commit, head, snapshot, missions)


@handle_errors
def validate(
    path: Path | None = typer.Argument(
        None, help="The mission repository, or a directory inside it (default: -C, or here).", show_default=False
    ),
    rev: str | None = typer.Option(
        None, "--rev", help="Validate this Git revision (branch, tag or commit) instead of the files on disk."
    ),
    base: str | None = typer.Option(
        None,
        "--base",
        help="The revision a change starts from (a pull request's base): findings two files share are "
        "reported on the file new since then, and every task the change adds is checked for overlap.",
    ),
    output: Format = typer.Option(
        Format.text,
        "-o",
        "--output",
        help="text for people, json for scripts, github for GitHub Actions annotations.",
        case_sensitive=False,
    ),
    repo: str = repo_option(),
) -> None:
    """Check every manifest: YAML, schema, unique names, references, cycles, globs, selectors.

    Exits 0 when valid, 1 when there are errors, 2 on a usage error.
    """
    from reconciler.manifests.checks import all_findings, errors
    from reconciler.manifests.loader import load
    from reconciler.manifests.source import base_blobs, open_mission_repository

    root, source = open_mission_repository(path if path is not None else Path(repo), rev)
    snapshot = load(source)
    findings = all_findings(snapshot, base_blobs(root, base) if base is not None else None)
    if base is not None:
        extra = [*_policy_versions(root, base, snapshot), *_overlaps(root, rev, base, snapshot)]
        findings = sorted([*findings, *extra], key=lambda f: f.sort_key())
    shown = {id(f): os.path.normpath(os.path.join(root, f.file)) for f in findings}
    bad = errors(findings)
    if output is Format.json:
        emit_json([dict(f.as_dict(), file=shown[id(f)]) for f in findings])
    elif output is Format.github:
        for f in findings:
            out.print(_github(f, shown[id(f)]), markup=False)
    else:
        for f in findings:
            out.print(_text(f, shown[id(f)]), markup=True)
        warnings = len(findings) - len(bad)
        summary = (
            f"{len(snapshot.files)} manifests checked: "
            f"{len(bad)} error{'' if len(bad) == 1 else 's'}, {warnings} warning{'' if warnings == 1 else 's'}"
        )
        err.print(f"[red]{summary}[/red]" if bad else f"[green]{summary}[/green]", markup=True)
    if bad:
        raise typer.Exit(1)
