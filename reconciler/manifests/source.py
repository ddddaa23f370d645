"""Find the mission repository for a path (upward from a subdirectory, as git finds its
repository) and open its working tree or a revision of it."""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.manifests.layout import MISSIONS_DIR, PRINCIPALS_FILE, classify, is_mission_root, nests
from reconciler.manifests.loader import DirSource, GitSource, Source
from reconciler.vocabulary.errors import UsageError


def discover(path: Path) -> tuple[pygit2.Repository | None, str]:
    """The Git repository containing `path`, and `path` relative to its work tree ('' at the root)."""
    found = pygit2.discover_repository(str(path))
    if found is None:
        return None, ""
    repo = pygit2.Repository(found)
    if repo.workdir is None:
        return repo, ""
    rel = path.resolve().relative_to(Path(repo.workdir).resolve())
    return repo, "" if str(rel) == "." else rel.as_posix()


def tree_at(repo: pygit2.Repository, rev: str, prefix: str = "") -> pygit2.Tree:
    """The tree of `rev` (any revision syntax), narrowed to `prefix`."""
    try:
        tree = repo.revparse_single(rev).peel(pygit2.Tree)
    except (KeyError, ValueError, pygit2.GitError):
        raise UsageError(f"unknown revision {rev!r} in {repo.workdir or repo.path}") from None
    if prefix:
        try:
            sub = tree[prefix]
        except KeyError:
            raise UsageError(f"{prefix!r} does not exist at {rev}") from None
        if sub.type != pygit2.enums.ObjectType.TREE:
            raise UsageError(f"{prefix!r} is not a directory at {rev}")
        return sub  # type: ignore[return-value]
    return tree


def mission_root(path: Path) -> Path:
    """The nearest directory at or above `path` that holds `missions/` or `principals.yaml`,
    not above the top of its Git work tree; `path` itself if there is none."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    start = path.resolve()
    found = pygit2.discover_repository(str(start))
    workdir = pygit2.Repository(found).workdir if found else None
    top = Path(workdir).resolve() if workdir else None
    for candidate in (start, *start.parents):
        try:
            if is_mission_root({e.name for e in candidate.iterdir()}):
                return candidate if candidate != start else path
        except OSError:
            break
        if candidate == top:
            break
    return path


def open_source(path: Path, rev: str | None) -> Source:
    """Manifests at `path` (or the mission repository above it): its working tree, or, with
    `rev`, that revision of its repository."""
    path = mission_root(path)
    if rev is None:
        return DirSource(path)
    repo, prefix = discover(path)
    if repo is None:
        raise UsageError(f"--rev needs a Git repository, and {path} is not in one")
    return GitSource(repo, tree_at(repo, rev, prefix))


def manifest_blobs(repo: pygit2.Repository, tree: pygit2.Tree) -> dict[str, str]:
    """Path -> blob id of every file of `tree` where a manifest may live (nothing is parsed)."""
    out: dict[str, str] = {}

    def walk(node: pygit2.Tree, prefix: str, depth: int) -> None:
        for entry in node:
            path = f"{prefix}{entry.name}"
            if entry.type == pygit2.enums.ObjectType.TREE and (depth < 3 or nests(path)):
                walk(repo[entry.id].peel(pygit2.Tree), path + "/", depth + 1)
            elif entry.type == pygit2.enums.ObjectType.BLOB and classify(path) is not None:
                out[path] = str(entry.id)

    walk(tree, "", 0)
    return out


def base_blobs(path: Path, rev: str) -> dict[str, str]:
    """`manifest_blobs` of revision `rev` of the repository holding `path` (same subdirectory)."""
    repo, prefix = discover(path)
    if repo is None:
        raise UsageError(f"--base needs a Git repository, and {path} is not in one")
    return manifest_blobs(repo, tree_at(repo, rev, prefix))


def open_mission_repository(path: Path, rev: str | None) -> tuple[Path, Source]:
    """The mission repository at or above `path`, and its manifests (the working tree, or `rev`);
    UsageError if there is none there."""
    root = mission_root(path)
    source = open_source(root, rev)
    if not is_mission_root({e.name for e in source.entries("")}):
        raise UsageError(
            f"{root} is not a mission repository: it has neither {PRINCIPALS_FILE} nor {MISSIONS_DIR}/ "
            "(`mc init` makes one)"
        )
    return root, source
