"""A policy's versions in the history of the desired-state branch, and bringing one back."""

from __future__ import annotations

import re

import pygit2

from reconciler.gitstate.desired_edit import replace_file
from reconciler.gitstate.store import Store
from reconciler.manifests.yamldoc import parse_yaml
from reconciler.vocabulary.errors import NotFound, UsageError

SCAN = 5000  # commits of the branch searched for a version
_VERSION = re.compile(r"^(\s+version:\s*)(\d+)(\s*(#.*)?)$", re.MULTILINE)


def _version(data: bytes, path: str) -> int | None:
    try:
        doc = parse_yaml(data, path).data
        return int(doc["spec"]["version"])
    except Exception:  # a version that does not parse is no version to roll back to
        return None


def versions(store: Store, path: str) -> dict[int, bytes]:
    """Every version of the policy file on the branch's first-parent history: version -> content
    (the newest content of each version)."""
    found: dict[int, bytes] = {}
    commit = store.repo[store.require_desired()].peel(pygit2.Commit)
    for _ in range(SCAN):
        try:
            blob = commit.tree[path].peel(pygit2.Blob)
        except KeyError:
            blob = None
        if blob is not None:
            version = _version(blob.data, path)
            if version is not None and version not in found:
                found[version] = blob.data
        if not commit.parents:
            break
        commit = commit.parents[0]
    return found


def rollback(store: Store, mission: str, name: str, to: int) -> tuple[str, int]:
    """Restore version `to` of a policy as a new version (highest + 1); (commit, new version)."""
    path = f"missions/{mission}/policies/{name}.yaml"
    known = versions(store, path)
    if not known:
        raise NotFound(f"no policy {mission}/{name} in the history of {store.branch}", policy=f"{mission}/{name}")
    if to not in known:
        raise NotFound(f"{mission}/{name} never had version {to}; it had {sorted(known)}", policy=f"{mission}/{name}")
    new = max(known) + 1
    text = known[to].decode("utf-8")
    restored, count = _VERSION.subn(lambda m: f"{m.group(1)}{new}{m.group(3)}", text, count=1)
    if count != 1:
        raise UsageError(f"cannot find the version line of {path} at version {to}")
    message = f"Roll back policy {mission}/{name} to version {to}'s rules, as version {new}\n"
    return replace_file(store, path, restored.encode("utf-8"), message), new
