"""`mc task create`: check for overlap first, show the matches, then write the task's manifest and
commit it on the current branch. An agent gets the matches as JSON and decides."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from cli.common import handle_errors, output_option, repo_option
from cli.output import Output, emit, err, out
from cli.overlap_cmd import print_report, run_check
from reconciler.vocabulary.errors import McError, UsageError
from reconciler.vocabulary.keys import check_name

if TYPE_CHECKING:
    from reconciler.gitstate.store import Store

task_app = typer.Typer(rich_markup_mode=None, help="Tasks: create one, after an overlap check.", no_args_is_help=True)


class OnOverlap(StrEnum):
    warn = "warn"  # show strong matches, create anyway (unless the mission says otherwise)
    fail = "fail"  # do not create if there is a strong match
    ignore = "ignore"  # create, whatever matches (the mission may still refuse)


class OverlapRefused(McError):
    """The task was not created because of a strong overlap (exit 1)."""

    code = "overlap"


def slug(title: str) -> str:
    """A task name from a title: lower case words joined by '-', at most 63 characters."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    name = ""
    for word in words:
        if len(name) + len(word) + 1 > 63:
            break
        name = f"{name}-{word}" if name else word
    return name or "task"


def manifest(
    name: str, title: str, description: str, kluster: str, agent: str, needs: list[str], paths: list[str]
) -> str:
    import yaml

    spec: dict[str, Any] = {"title": title}
    if description:
        spec["description"] = description
    spec["kluster"] = kluster
    spec["agent"] = {"name": agent}
    if needs:
        spec["needs"] = needs
    if paths:
        spec["paths"] = paths
    doc = {"apiVersion": "missioncontrol.dev/v1", "kind": "Task", "metadata": {"name": name}, "spec": spec}
    header = "# yaml-language-server: $schema=https://missioncontrol.dev/schemas/v1/task.schema.json\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _one(kind: str, flag: str, given: str | None, declared: list[str], mission: str) -> str:
    if given is not None:
        if given not in declared:
            raise UsageError(f"no {kind} {given!r} in mission {mission} (declared: {', '.join(declared) or 'none'})")
        return given
    if len(declared) == 1:
        return declared[0]
    raise UsageError(
        f"mission {mission} declares {len(declared)} {kind}s ({', '.join(declared)}): say which with {flag}"
    )


def _current_branch(repo: str) -> tuple[Store, str]:
    """The store of the checked-out branch of a working tree, and the branch's tip."""
    import pygit2

    from cli.store_opts import open_repo
    from reconciler.gitstate.store import open_store

    git_repo = open_repo(repo)
    if git_repo.workdir is None:
        raise UsageError("this repository has no working tree: clone it and create the task there")
    if git_repo.head_is_unborn or git_repo.head_is_detached:
        raise UsageError("check out a branch with at least one commit first: the task is committed on it")
    store = open_store(git_repo, None, git_repo.head.shorthand)
    return store, str(git_repo.head.peel(pygit2.Commit).id)


def _refusal(mission: str, strong: list[str], policy: str, acknowledged: list[str], choice: OnOverlap) -> str | None:
    """Why the task must not be created, if it must not: the mission's policy first, then yours."""
    unacknowledged = [t for t in strong if t not in acknowledged]
    if strong and policy == "refuse":
        return f"mission {mission} refuses a task that strongly overlaps {', '.join(strong)}"
    if unacknowledged and policy == "acknowledge":
        return (
            f"mission {mission} asks you to acknowledge strong overlaps: look at {', '.join(unacknowledged)}, "
            "then pass --acknowledge for each"
        )
    if strong and choice is OnOverlap.fail:
        return f"strong overlap with {', '.join(strong)} (--on-overlap fail)"
    return None


@task_app.command("create")
@handle_errors
def create(
    mission: str = typer.Option(..., "--mission", "-m", envvar="MC_MISSION", help="The mission to add the task to."),
    title: str = typer.Option(..., "--title", help="What the task is, in one line."),
    description: str = typer.Option("", "--description", help="What it is to do."),
    name: str | None = typer.Option(None, "--name", help="The task's name (default: from the title)."),
    kluster: str | None = typer.Option(None, "--kluster", help="Its kluster (default: the mission's only one)."),
    agent: str | None = typer.Option(None, "--agent", help="Its agent (default: the mission's only one)."),
    needs: list[str] = typer.Option([], "--needs", help="A task it needs first (repeatable)."),
    paths: list[str] = typer.Option([], "--paths", help="A path glob it may touch (repeatable)."),
    on_overlap: OnOverlap = typer.Option(
        OnOverlap.warn, "--on-overlap", help="On a strong match: warn and create, fail, or ignore."
    ),
    acknowledge: list[str] = typer.Option(
        [],
        "--acknowledge",
        help="A strongly matching task you have looked at (repeatable; see the mission's onStrong).",
    ),
    output: Output = output_option(),
    repo: str = repo_option(),
) -> None:
    """Create a task: run the overlap check against the current branch, show the matches, then write
    missions/MISSION/tasks/NAME.yaml and commit it (and only it) on the current branch."""
    import pygit2

    from reconciler.gitstate.desired_edit import add_file
    from reconciler.manifests.desired import index
    from reconciler.manifests.layout import Location, task_file
    from reconciler.manifests.loader import GitSource, load
    from reconciler.manifests.manifest_file import read_manifest
    from reconciler.vocabulary.kinds import Kind

    store, head = _current_branch(repo)
    git_repo, branch = store.repo, store.branch
    state = index(load(GitSource(git_repo, git_repo[head].peel(pygit2.Commit).tree)).manifests())
    ms = state.missions.get(mission)
    if ms is None or ms.mission is None:
        raise UsageError(
            f"no mission {mission!r} on {branch} (missions: {', '.join(sorted(state.missions)) or 'none'})"
        )
    name = name or slug(title)
    check_name("task", name)
    if name in ms.tasks:
        raise UsageError(f"task {mission}/{name} exists already: choose another --name")
    for need in needs:
        if need not in ms.tasks:
            raise UsageError(f"--needs {need!r}: no such task in mission {mission}")
    kluster = _one("kluster", "--kluster", kluster, sorted(ms.klusters), mission)
    agent = _one("agent", "--agent", agent, sorted(ms.agents), mission)

    report = run_check(store, head, mission, title, description, paths, False)
    strong = [m.task for m in report.strong]
    refused = _refusal(mission, strong, ms.mission.overlap.on_strong, acknowledge, on_overlap)

    text = manifest(name, title, description, kluster, agent, list(needs), list(paths))
    path = task_file(mission, name)
    checked = read_manifest(path, "", text.encode(), Location(Kind.TASK, mission))
    if checked.findings:
        raise UsageError(f"the task would not validate: {checked.findings[0]}")
    if refused is not None:
        if output is Output.table:
            print_report(report)
        raise OverlapRefused(refused, task=f"{mission}/{name}", **report.doc())
    commit = add_file(store, path, text.encode(), f"Add task {mission}/{name}: {title}")
    data = {"created": True, "task": f"{mission}/{name}", "path": path, "commit": commit, **report.doc()}
    if output is Output.table:
        print_report(report)
        if strong:
            err.print(f"warning: strong overlap with {', '.join(strong)}", markup=False)
        out.print(f"created {mission}/{name} ({path}) in {commit[:12]} on {branch}", markup=False)
    else:
        emit(data, output)
