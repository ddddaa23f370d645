"""The overlap index on disk: built from a commit, updated from a tree diff (one changed task
re-embeds one row), rebuilt from Git alone, and never used stale, foreign or corrupt."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pygit2
import pytest

from reconciler.overlap.embed import Embedder, default_embedder
from reconciler.overlap.index import OverlapIndex, index_dir
from tests.conftest import TASK, git, write


class Counting:
    """The real model, counting the texts it embeds."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.texts = inner, inner.name, 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts += len(texts)
        return self.inner.embed(texts)


def task(repo: Path, name: str, title: str) -> None:
    text = TASK.format(name=name, needs="[]").replace(f"title: {name}", f"title: {title}")
    write(repo, f"missions/m/tasks/{name}.yaml", text)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def indexed(repo: Path) -> tuple[Path, Counting]:
    for n, title in enumerate(("Retry failed payments", "Write the onboarding guide", "Rotate the API keys")):
        task(repo, f"t{n}", title)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "three tasks")
    return repo, Counting(default_embedder())


def test_a_build_then_a_one_task_change_re_embeds_one_row(indexed: tuple[Path, Counting]) -> None:
    repo, model = indexed
    index = OverlapIndex(pygit2.Repository(str(repo)), model)
    assert index.ensure(head(repo)) == "rebuilt"
    rows = index.count()
    assert rows == 4  # the three tasks and the example task `mc init` wrote
    assert index.ensure(head(repo)) == "current"
    before = model.texts
    task(repo, "t1", "Write the onboarding guide for new agents")
    git(repo, "commit", "-qam", "one task changes")
    assert index.ensure(head(repo)) == "updated"
    assert model.texts - before == 1
    titles = {i.key: i.title for i in index.items()}
    assert titles["m/t1"] == "Write the onboarding guide for new agents"
    assert index.count() == rows
    git(repo, "rm", "-q", "missions/m/tasks/t2.yaml")
    git(repo, "commit", "-qm", "one task goes")
    assert index.ensure(head(repo)) == "updated"
    assert "m/t2" not in {i.key for i in index.items()}


def test_a_rebuild_from_git_alone_gives_the_same_rows(indexed: tuple[Path, Counting]) -> None:
    repo, model = indexed
    index = OverlapIndex(pygit2.Repository(str(repo)), model)
    index.ensure(head(repo))
    task(repo, "t0", "Retry failed payments with backoff")
    git(repo, "commit", "-qam", "edit")
    index.ensure(head(repo))
    incremental = sorted((i.id, i.title, i.source) for i in index.items())
    assert index.rebuild(head(repo)) == len(incremental)
    assert sorted((i.id, i.title, i.source) for i in index.items()) == incremental


@pytest.mark.parametrize("damage", ["meta-garbage", "other-model", "table-gone", "unknown-commit"])
def test_a_foreign_corrupt_or_unknown_index_is_rebuilt(indexed: tuple[Path, Counting], damage: str) -> None:
    repo, model = indexed
    git_repo = pygit2.Repository(str(repo))
    OverlapIndex(git_repo, model).ensure(head(repo))
    meta = index_dir(git_repo) / "meta.json"
    if damage == "meta-garbage":
        meta.write_text("{not json")
    elif damage == "other-model":
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "model": "another-model"}))
    elif damage == "table-gone":
        shutil.rmtree(index_dir(git_repo) / "lance" / "items.lance")
    else:
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "commit": "f" * 40}))
    fresh = OverlapIndex(git_repo, model)
    assert fresh.ensure(head(repo)) == "rebuilt"
    assert fresh.count() == 4


def test_the_index_lives_under_dot_mc_which_git_ignores(indexed: tuple[Path, Counting]) -> None:
    repo, model = indexed
    OverlapIndex(pygit2.Repository(str(repo)), model).ensure(head(repo))
    assert (repo / ".mc" / "index" / "meta.json").is_file()
    assert git(repo, "status", "--porcelain") == ""
    (repo / ".gitignore").unlink()  # even where the repository does not ignore .mc/
    git(repo, "commit", "-qam", "no .gitignore")
    git(repo, "add", "-A")
    assert git(repo, "status", "--porcelain") == ""


def test_published_results_are_indexed_by_their_summary(indexed: tuple[Path, Counting]) -> None:
    repo, model = indexed
    index = OverlapIndex(pygit2.Repository(str(repo)), model)
    index.ensure(head(repo))
    git(repo, "checkout", "-qb", "work")
    write(repo, "out/offer.txt", "the offer\n")
    git(repo, "add", "-A")
    git(
        repo,
        "commit",
        "-qm",
        "Offer letter drafted for the applicant\n\nThree pages.\n\nMC-Task: m/t0\nMC-Kind: result",
    )
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Publish m/t0\n\nMC-Task: m/t0\nMC-Approved-By: alice SHA256:x y", "work")
    assert index.ensure(head(repo)) == "updated"
    results = [i for i in index.items() if i.kind == "result"]
    assert [(r.key, r.title, r.description) for r in results] == [
        ("m/t0", "Offer letter drafted for the applicant", "Three pages.")
    ]
