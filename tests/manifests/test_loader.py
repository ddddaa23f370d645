"""Loading from a commit or a directory, and reparsing only what changed."""

from __future__ import annotations

from pathlib import Path

import pygit2

from reconciler.manifests.checks import all_findings, errors
from reconciler.manifests.loader import DirSource, GitSource, load
from reconciler.manifests.model import Task
from reconciler.manifests.source import open_source, tree_at
from tests.conftest import TASK, git, write


def commit_file(repo: pygit2.Repository, rel: str, text: str, message: str) -> pygit2.Commit:
    """Commit one file change on HEAD without touching the working tree."""
    head = repo.head.peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(head.tree)
    index.add(pygit2.IndexEntry(rel, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(repo)
    sig = pygit2.Signature("t", "t@t")
    oid = repo.create_commit("HEAD", sig, sig, message, tree, [head.id])
    return repo[oid].peel(pygit2.Commit)


def test_git_and_directory_sources_agree(repo: Path) -> None:
    from_git = load(open_source(repo, "HEAD"))
    from_dir = load(open_source(repo, None))
    assert {p: f.oid for p, f in from_git.files.items()} == {p: f.oid for p, f in from_dir.files.items()}
    assert all_findings(from_git) == all_findings(from_dir) == []


def test_typed_objects(repo: Path) -> None:
    snap = load(DirSource(repo))
    task = snap.files["missions/m/tasks/hello.yaml"].obj
    assert isinstance(task, Task)
    assert (task.mission, task.name, task.kluster, task.paths) == ("m", "hello", "main", ("notes/m/**",))
    assert task.agent.match_labels == {"role": "worker"}
    assert task.retries.max_attempts == 3


def test_incremental_reload_parses_only_changed_blobs(repo: Path) -> None:
    git = pygit2.Repository(str(repo))
    first = load(GitSource(git, tree_at(git, "HEAD")))
    assert (first.parsed, first.reused) == (5, 0)
    same = load(GitSource(git, tree_at(git, "HEAD")), previous=first)
    assert (same.parsed, same.reused) == (0, 5)
    commit_file(git, "missions/m/tasks/b.yaml", TASK.format(name="b", needs="[hello]"), "add b")
    second = load(GitSource(git, tree_at(git, "HEAD")), previous=first)
    assert (second.parsed, second.reused) == (1, 5)
    assert set(second.files) == set(first.files) | {"missions/m/tasks/b.yaml"}
    assert all_findings(second) == []
    commit_file(git, "missions/m/tasks/b.yaml", TASK.format(name="b", needs="[ghost]"), "break b")
    third = load(GitSource(git, tree_at(git, "HEAD")), previous=second)
    assert third.parsed == 1
    assert [f.message for f in all_findings(third)] == ["unknown task 'ghost' in mission 'm'"]


def test_unchanged_kind_directory_is_reused_whole(repo: Path) -> None:
    git = pygit2.Repository(str(repo))
    first = load(GitSource(git, tree_at(git, "HEAD")))
    commit_file(
        git, "missions/m/mission.yaml", (repo / "missions/m/mission.yaml").read_text() + "  domain: x\n", "edit"
    )
    second = load(GitSource(git, tree_at(git, "HEAD")), previous=first)
    assert second.parsed == 1
    assert second.files["missions/m/tasks/hello.yaml"] is first.files["missions/m/tasks/hello.yaml"]


def test_directory_reload_reuses_by_content_hash(repo: Path) -> None:
    first = load(DirSource(repo))
    (repo / "missions/m/tasks/hello.yaml").write_text(
        (repo / "missions/m/tasks/hello.yaml").read_text() + "  priority: 7\n"
    )
    second = load(DirSource(repo), previous=first)
    assert (second.parsed, second.reused) == (1, 4)


def test_symlinks_and_subdirectories_are_not_followed(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.yaml"
    outside.write_text("a: 1\n")
    (repo / "missions/m/tasks/link.yaml").symlink_to(outside)
    (repo / "missions/m/agents/sub").mkdir()
    (repo / "missions/m/agents/sub/x.yaml").write_text("a: 1\n")
    snap = load(DirSource(repo))
    assert "missions/m/tasks/link.yaml" not in snap.files
    assert "missions/m/agents/sub/x.yaml" not in snap.files
    assert any("subdirectories" in f.message for f in snap.stray)


def test_tasks_may_live_in_subdirectories(repo: Path) -> None:
    """tasks/ (only tasks/) is read at any depth: a big mission need not keep one directory."""
    hello = (repo / "missions/m/tasks/hello.yaml").read_text()
    (repo / "missions/m/tasks/hello.yaml").unlink()
    (repo / "missions/m/tasks/a/b").mkdir(parents=True)
    (repo / "missions/m/tasks/a/b/hello.yaml").write_text(hello)
    snap = load(DirSource(repo))
    mf = snap.files["missions/m/tasks/a/b/hello.yaml"]
    assert mf.obj is not None
    assert mf.obj.name == "hello"
    assert not errors(all_findings(snap))


HEAD = "apiVersion: missioncontrol.dev/v1\nkind: Task\nmetadata:\n  name: {name}\nspec:\n  title: T\n  kluster: main\n  agent:\n    name: worker\n"
UNKNOWN = "expected one of: title, description, kluster, priority, needs, agent, paths, inputs, outputs, retries, timeoutSeconds, stallSeconds, approval, suspend"


def test_findings_name_file_line_and_field_whichever_way_the_file_was_read(repo: Path) -> None:
    """Schema errors, YAML quirks and cross-file errors, located from a directory and a commit:
    positions are parsed only for the files that need one, and are the same."""
    files = {
        "schema": HEAD + "  priority: high\n  retries:\n    maxAttempts: 0\n  extra: 1\n",
        "duplicate-key": HEAD + "  title: again\n",
        "quirks": HEAD + "  suspend: yes\n  timeoutSeconds: ! 60\n  on: 1\n",  # `! 60` is a string
        "reference": HEAD + "  needs: [hello, ghost]\n",
        "same-name": HEAD.replace("{name}", "reference"),
    }
    for name, text in files.items():
        write(repo, f"missions/m/tasks/{name}.yaml", text.replace("{name}", name))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "findings")
    expected = [
        ("duplicate-key.yaml", 10, 3, "spec.title", "duplicate key 'title' (first at line 6)", "yaml"),
        ("quirks.yaml", 11, 19, "spec.timeoutSeconds", "must be integer, not a string", "schema"),
        ("quirks.yaml", 12, 3, "spec.on", f"unknown field 'on'; {UNKNOWN}", "schema"),
        ("reference.yaml", 10, 18, "spec.needs[1]", "unknown task 'ghost' in mission 'm'", "reference"),
        (
            "same-name.yaml",
            4,
            9,
            "metadata.name",
            "duplicate Task name 'reference'; already defined in missions/m/tasks/reference.yaml:4",
            "unique",
        ),
        ("schema.yaml", 10, 13, "spec.priority", "must be integer, not a string", "schema"),
        ("schema.yaml", 12, 18, "spec.retries.maxAttempts", "0 is less than the minimum of 1", "schema"),
        ("schema.yaml", 13, 3, "spec.extra", f"unknown field 'extra'; {UNKNOWN}", "schema"),
    ]
    for source in (open_source(repo, None), open_source(repo, "HEAD")):
        found = [
            (f.file.rsplit("/", 1)[1], f.line, f.column, f.field, f.message, f.rule) for f in all_findings(load(source))
        ]
        assert found == expected
