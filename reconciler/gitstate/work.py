"""Work branches, `refs/heads/mc/work/<mission>/<task>`: the agent's checkpoints and result.

A task that needs others starts from their work: its branch is created at a *start commit*,
`main` merged with the result commit of each task it needs (`MC-Kind: start`), so an agent finds
in its worktree the files its dependencies wrote, before any of them is published. The path
check of a result diffs against that start commit, so what the dependencies changed is not
counted against the task's own `paths`.

A work commit carries the changes of a worktree checked out on the task's work branch (made
with `git worktree add DIR mc/work/<mission>/<task>`, or by a mesh node), staged through that
worktree's own index, so the commit is exactly what `git commit -a` there would record, and
the worktree is clean afterwards. Without a worktree, the commit records no file change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pygit2

from reconciler.gitstate.commits import write_commit
from reconciler.gitstate.refs import work_branch, work_ref
from reconciler.gitstate.store import Store
from reconciler.vocabulary.errors import GitFailure, McError, NotFound, UsageError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.trailers import Trailer, WorkKind, compose, parse


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git in `cwd` (a work tree, or a git directory), without the caller's GIT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env, check=False)


def check_worktree(store: Store, key: TaskKey, worktree: Path) -> Path:
    """The top of `worktree` if it is a checkout of `key`'s work branch in this repository;
    UsageError saying how to make one otherwise."""
    branch = work_branch(key)
    make = f"`git worktree add DIR {branch}` makes one"
    if not worktree.exists():
        raise UsageError(f"--worktree {worktree} does not exist; {make}")
    if not worktree.is_dir():
        raise UsageError(f"--worktree {worktree} is not a directory; {make}")
    proc = _git(worktree, "rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel")
    lines = proc.stdout.split("\n")
    if proc.returncode != 0 or len(lines) < 2 or not lines[1]:
        raise UsageError(f"--worktree {worktree} is not a Git work tree; {make}")
    common, top = Path(lines[0]), Path(lines[1])
    if os.path.realpath(common) != os.path.realpath(store.repo.path):
        raise UsageError(f"--worktree {worktree} belongs to another repository ({common}); {make} in {store.where()}")
    head = _git(top, "symbolic-ref", "--quiet", "HEAD").stdout.strip()
    if head != work_ref(key):
        on = head.removeprefix("refs/heads/") or "a detached HEAD"
        raise UsageError(
            f"--worktree {worktree} is on {on}, not on the task's work branch {branch}; run `git -C {top} switch {branch}`"
        )
    return top


def _snapshot(top: Path) -> str:
    """Stage every change of the worktree in its own index; the tree that index now holds."""
    add = _git(top, "add", "-A", ".")
    if add.returncode != 0:
        raise GitFailure(f"cannot stage the changes of {top}: {add.stderr.strip()}")
    tree = _git(top, "write-tree")
    if tree.returncode != 0:
        raise GitFailure(f"cannot write the tree of {top}: {tree.stderr.strip()}")
    return tree.stdout.strip()


def work_commit(
    store: Store, key: TaskKey, who: str, subject: str, trailers: Mapping[Trailer, object], worktree: Path | None
) -> tuple[str, str]:
    """Create the next commit of `key`'s work branch (objects only): (commit, parent)."""
    parent = store.read(work_ref(key))
    if parent is None:
        raise NotFound(f"{work_ref(key)} does not exist; was the task claimed?", task=key)
    if worktree is not None:
        tree = _snapshot(check_worktree(store, key, worktree))
    else:
        tree = str(store.repo[parent].peel(pygit2.Commit).tree.id)
    return write_commit(store.repo, who, compose(subject, trailers), tree, [parent]), parent


class StartConflict(McError):
    """The results a task needs conflict: it cannot start from all of them."""

    code = "start_conflict"


def start_commit(store: Store, key: TaskKey, who: str, main: str, results: Sequence[str]) -> str:
    """Where `key`'s work branch starts (objects only): `main` when it needs nothing, otherwise a
    chain of merge commits of `main` with each result, the last of them marked as the start.
    StartConflict if two results conflict: the task cannot start from both."""
    current, repo = main, store.repo
    for i, result in enumerate(results):
        try:
            index = repo.merge_commits(current, result)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise GitFailure(f"{key} cannot start from {result[:12]}: {exc}", task=key) from None
        if index.conflicts is not None:
            paths = sorted({e.path for entry in index.conflicts for e in entry if e is not None})
            raise StartConflict(
                f"{key} cannot start: the results it needs conflict on {', '.join(paths[:10])}", task=key
            )
        tree = index.write_tree(repo)
        kind = {Trailer.KIND: WorkKind.START} if i == len(results) - 1 else {}
        message = compose(f"Start {key} from {result[:12]}", {Trailer.TASK: key, **kind})
        current = write_commit(repo, who, message, tree, [current, result])
    return current


def start_of(store: Store, head: str, results: Collection[str]) -> str | None:
    """The start commit of the work branch at `head` (down its first parents), or None when the
    branch started at `main` itself, or when what claims to be its start is not one.

    A genuine start is a chain of merges down to a commit of `main`'s history, each merging one
    of `results` (the result commits of the tasks it needs) cleanly and holding exactly the tree
    that merge gives. An agent can commit on its branch by hand, trailers and parents included: a
    forged start, which could hide changes from the path check, is refused here, and the check
    then diffs from where the branch left `main`, as without one."""
    repo = store.repo
    commit = repo[head].peel(pygit2.Commit)
    while parse(commit.message).get(Trailer.KIND) != WorkKind.START:
        if len(commit.parent_ids) != 1:
            return None  # the root, or a merge that is not ours: no start on this branch
        commit = commit.parents[0]
    main = store.require_desired()
    link = commit
    while not (str(link.id) == main or repo.descendant_of(main, link.id)):
        if len(link.parent_ids) != 2 or str(link.parent_ids[1]) not in results:
            return None
        merged = repo.merge_commits(link.parent_ids[0], link.parent_ids[1])
        if merged.conflicts is not None or merged.write_tree(repo) != link.tree_id:
            return None
        link = link.parents[0]
    return str(commit.id)


def add_worktree(store: Store, key: TaskKey, path: Path) -> None:
    """Check out `key`'s work branch at `path` (a fresh worktree; a stale one left there by a
    crash is removed first, on disk and in `git worktree list`)."""
    remove_worktree(store, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = _git(Path(store.repo.path), "worktree", "add", "--force", "--quiet", str(path), work_branch(key))
    if proc.returncode != 0:
        raise GitFailure(f"cannot check out {work_branch(key)} at {path}: {proc.stderr.strip()}", task=key)


def reset_worktree(path: Path) -> None:
    """Put the worktree back at its branch's last commit (the last checkpoint): what an agent
    changed since, committed nowhere, is discarded."""
    for args in (("reset", "--hard", "--quiet"), ("clean", "-fdq")):
        proc = _git(path, *args)
        if proc.returncode != 0:
            raise GitFailure(f"cannot reset the worktree {path}: {proc.stderr.strip()}")


def remove_worktree(store: Store, path: Path) -> None:
    """Remove the worktree at `path`, registered or not, and prune what git still lists."""
    git_dir = Path(store.repo.path)
    if path.exists():
        _git(git_dir, "worktree", "remove", "--force", "--force", str(path))
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    _git(git_dir, "worktree", "prune")


def changed_paths(store: Store, base: str, tree: str) -> list[str]:
    """The paths that differ between commit `base` and `tree` (added, changed or deleted)."""
    old = store.repo[base].peel(pygit2.Tree)
    new = store.repo[tree].peel(pygit2.Tree)
    out: set[str] = set()
    for delta in old.diff_to_tree(new).deltas:
        out.update(p for p in (delta.old_file.path, delta.new_file.path) if p)
    return sorted(out)
