"""`mc init`: lay out a ready mission repository, idempotently, and commit what it created."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from reconciler.gitstate.commits import signature
from reconciler.vocabulary.errors import UsageError
from reconciler.vocabulary.keys import check_name

PRINCIPALS = """\
# People and CI identities who may approve work. Add SSH public keys to make approvals count.
# yaml-language-server: $schema=https://missioncontrol.dev/schemas/v1/principals.schema.json
apiVersion: missioncontrol.dev/v1
kind: Principals
metadata:
  name: principals
spec:
  principals:
    - name: {owner}
      kind: human
  groups:
    - name: maintainers
      members: [{owner}]
"""
MISSION = """\
apiVersion: missioncontrol.dev/v1
kind: Mission
metadata:
  name: {mission}
spec:
  description: A first mission, made by mc init.
  owners: [{owner}]
"""
KLUSTER = """\
apiVersion: missioncontrol.dev/v1
kind: Kluster
metadata:
  name: main
spec:
  outcome: The first piece of work is done.
"""
AGENT = """\
apiVersion: missioncontrol.dev/v1
kind: Agent
metadata:
  name: worker
  labels:
    role: worker
spec:
  description: A placeholder agent that reports which task it was given.
  runtime:
    command: ["sh", "-c", "echo working on $MC_MISSION/$MC_TASK"]
  budget:
    wallTimeSeconds: 600
"""
TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata:
  name: hello
spec:
  title: Say hello
  description: The smallest task there is, to see the whole loop work.
  kluster: main
  agent:
    selector:
      matchLabels:
        role: worker
  paths: ["notes/{mission}/**"]
"""


@dataclass(slots=True)
class InitResult:
    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    git_initialised: bool = False
    commit: str | None = None


def _signature(repo: pygit2.Repository) -> pygit2.Signature:
    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return signature("mc-init")


def init_repository(root: Path, mission: str = "my-mission", owner: str = "admin") -> InitResult:
    """Create whatever is missing of a mission repository at `root`; never overwrite a file."""
    check_name("mission", mission)
    check_name("owner", owner)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    result = InitResult(root)
    found = pygit2.discover_repository(str(root))
    if found is None:
        repo = pygit2.init_repository(str(root), initial_head="main")
        result.git_initialised = True
    else:
        repo = pygit2.Repository(found)
    values = {"mission": mission, "owner": owner}
    files = {
        "principals.yaml": PRINCIPALS,
        f"missions/{mission}/mission.yaml": MISSION,
        f"missions/{mission}/klusters/main.yaml": KLUSTER,
        f"missions/{mission}/agents/worker.yaml": AGENT,
        f"missions/{mission}/tasks/hello.yaml": TASK,
    }
    for rel, template in files.items():
        target = root / rel
        if target.exists():
            result.kept.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template.format(**values), encoding="utf-8")
        result.created.append(rel)
    ignore = root / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if ".mc/" in lines or "/.mc/" in lines:
        result.kept.append(".gitignore")
    else:
        ignore.write_text("\n".join([*lines, ".mc/"]) + "\n", encoding="utf-8")
        result.created.append(".gitignore")
    # Commit what was created whenever a manifest was (a first or a further mission), but only in
    # a repository of its own: inside a bigger repository, committing is left to its owner.
    own = repo.workdir is not None and Path(repo.workdir).resolve() == root.resolve()
    if own and any(rel != ".gitignore" for rel in result.created):
        result.commit = _commit_created(repo, root, result.created, f"mc init: mission {mission}")
    return result


def _commit_created(repo: pygit2.Repository, root: Path, created: list[str], message: str) -> str:
    """Commit exactly the files `mc init` created, on top of HEAD; other staged changes stay staged."""
    assert repo.workdir is not None
    prefix = root.resolve().relative_to(Path(repo.workdir).resolve()).as_posix()
    paths = [rel if prefix == "." else f"{prefix}/{rel}" for rel in created]
    parents = [] if repo.head_is_unborn else [repo.head.target]
    staged = pygit2.Index()
    if parents:
        staged.read_tree(repo[parents[0]].peel(pygit2.Tree))
    repo.index.read()
    for path in paths:
        oid = repo.create_blob_fromworkdir(path)
        entry = pygit2.IndexEntry(path, oid, pygit2.enums.FileMode.BLOB)
        staged.add(entry)
        repo.index.add(entry)
    repo.index.write()
    sig = _signature(repo)
    return str(repo.create_commit("HEAD", sig, sig, message, staged.write_tree(repo), parents))
