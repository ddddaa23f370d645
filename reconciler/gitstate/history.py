"""Who wrote a file on the desired-state branch: the authors of every commit that changed it."""

from __future__ import annotations

import os
import subprocess

from reconciler.gitstate.store import Store


def authors_of(store: Store, commit: str, path: str) -> frozenset[str]:
    """The author emails (lowercased) of the commits reachable from `commit` that changed `path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(
        ["git", "--git-dir", store.repo.path, "log", "--format=%ae", commit, "--", path],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return frozenset(line.strip().lower() for line in proc.stdout.splitlines() if line.strip())
