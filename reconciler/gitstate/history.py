"""Who wrote the manifests on the desired-state branch: the authors of every commit that changed
each file (read in one `git log` over the branch's history), and the commit that added a file."""

from __future__ import annotations

import os
import subprocess

from reconciler.gitstate.store import Store


def _log(store: Store, *args: str) -> str:
    """`git log ARGS` in the repository, without the caller's GIT_* variables; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    command = ["git", "--git-dir", store.repo.path, "log", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False).stdout


def added_by(store: Store, commit: str, path: str) -> tuple[str, str, str] | None:
    """(commit, `author <email>`, ISO time) of the commit reachable from `commit` that added
    `path` (the oldest, if it was added more than once), or None."""
    lines = _log(store, "--diff-filter=A", "--format=%H%x00%an <%ae>%x00%aI", commit, "--", path).strip().splitlines()
    if not lines:
        return None
    added, author, at = lines[-1].split("\0")
    return added, author, at


def authors_by_path(store: Store, commit: str, under: str) -> dict[str, frozenset[str]]:
    """Path -> the author emails (lowercased) of the commits reachable from `commit` that
    changed it, for every file under `under`."""
    out = _log(store, "--format=%x00%ae", "--name-only", commit, "--", under)
    found: dict[str, set[str]] = {}
    author = ""
    for line in out.splitlines():
        if line.startswith("\0"):
            author = line[1:].strip().lower()
        elif line.strip():
            found.setdefault(line.strip(), set()).add(author)
    return {path: frozenset(emails) for path, emails in found.items()}
