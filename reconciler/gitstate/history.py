"""Who wrote the manifests on the desired-state branch: the authors of every commit that changed
each file, read in one `git log` over the branch's history."""

from __future__ import annotations

import os
import subprocess

from reconciler.gitstate.store import Store


def authors_by_path(store: Store, commit: str, under: str) -> dict[str, frozenset[str]]:
    """Path -> the author emails (lowercased) of the commits reachable from `commit` that
    changed it, for every file under `under`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(
        ["git", "--git-dir", store.repo.path, "log", "--format=%x00%ae", "--name-only", commit, "--", under],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    found: dict[str, set[str]] = {}
    author = ""
    for line in proc.stdout.splitlines():
        if line.startswith("\0"):
            author = line[1:].strip().lower()
        elif line.strip():
            found.setdefault(line.strip(), set()).add(author)
    return {path: frozenset(emails) for path, emails in found.items()}
