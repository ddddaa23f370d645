"""The claim queue's layout under `_queue/` (`gitstate/queue.py`): what is written where, read
back page by page in claim order, and what an unreadable queue gives."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.gitstate.queue import (
    LEGACY_FILE,
    META_FILE,
    PAGE_FANOUT,
    QUEUE_DIR,
    QueueEntry,
    QueueIndex,
    QueueMeta,
    QueueView,
    cut_level,
    cut_name,
    encode_queue,
    name_order,
    queue_changes,
    queue_files,
    queue_ok,
    read_queue,
)
from reconciler.vocabulary.errors import CorruptState
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.spend import SpendLimit
from tests.queue_trees import commit_files, tree_files

A, B = "alpha-0000000a", "beta-0000000b"


def entry(i: int, *, agents: tuple[str, ...] = (A,), priority: int = 50, created: float = 1000.0) -> QueueEntry:
    return QueueEntry(TaskKey(f"m/t{i:05d}"), priority, created, None, 0, f"{i:040x}", agents, 60)


def meta() -> QueueMeta:
    return QueueMeta({A: 2}, {A: 5, B: 1}, ["m"], {A: SpendLimit(tokens=100)})


def key_with_level(level: int, start: int = 0) -> int:
    """The first i >= start whose key `m/t{i}` cuts at `level`."""
    return next(i for i in count(start) if cut_level(f"m/t{i:05d}") == level)


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r"), bare=True)


def test_a_queue_reads_back_as_written_each_task_once_in_claim_order(repo: pygit2.Repository) -> None:
    tasks = [
        entry(i, agents=(A, B) if i % 3 == 0 else (A,), priority=i % 7, created=1000.0 + i % 5) for i in range(600)
    ]
    tip = commit_files(repo, None, encode_queue(QueueIndex(tasks, meta())))
    back = read_queue(repo, tip)
    assert back.tasks == sorted(tasks, key=lambda e: e.order)
    assert back.meta == meta()
    view = QueueView(repo, tip)
    assert list(view.entries(A)) == sorted(tasks, key=lambda e: e.order)
    assert list(view.entries(B)) == sorted((e for e in tasks if B in e.agents), key=lambda e: e.order)
    assert list(view.entries("nobody-00000000")) == []


def test_pages_are_cut_where_tasks_hash_to_a_cut_and_named_after_them(repo: pygit2.Repository) -> None:
    first_page = key_with_level(1)
    first_dir = key_with_level(2)
    tasks = [entry(i) for i in range(first_dir + 3)]
    files = encode_queue(QueueIndex(tasks, meta()))
    pages = {p: json.loads(data) for p, data in files.items() if p != META_FILE}
    head = f"{QUEUE_DIR}/{A}/head/head.json"
    assert [e["key"] for e in pages[head]] == [f"m/t{i:05d}" for i in range(first_page)]
    second = f"{QUEUE_DIR}/{A}/head/{cut_name(tasks[first_page].order)}.json"
    assert pages[second][0]["key"] == tasks[first_page].key
    directory = cut_name(tasks[first_dir].order)
    assert f"{QUEUE_DIR}/{A}/{directory}/{directory}.json" in pages
    sizes = [len(p) for p in pages.values()]
    assert sum(sizes) == len(tasks)
    assert len(pages) > len(tasks) // PAGE_FANOUT // 4  # many small pages, no single big one
    tip = commit_files(repo, None, files)
    assert list(QueueView(repo, tip).entries(A)) == tasks


def test_a_page_name_gives_its_place_in_claim_order() -> None:
    for order in [(-50, 1000.0, "m/t"), (0, 1.5e-7, "a-b/c-d"), (-1000, 1712345678.123456, "x/y")]:
        assert name_order(cut_name(order)) == order
    with pytest.raises(ValueError, match="names no task"):
        name_order("50_1000.0_nodot")


def test_a_claim_reads_pages_from_the_front_only_as_far_as_it_goes(repo: pygit2.Repository) -> None:
    """A damaged later page does not stop a claim that finds its task before it."""
    tasks = [entry(i) for i in range(key_with_level(1, key_with_level(1) + 1) + 5)]
    files = encode_queue(QueueIndex(tasks, meta()))
    last = sorted(p for p in files if p != META_FILE and not p.endswith("head.json"))[-1]
    tip = commit_files(repo, None, {**files, last: b"{not json"})
    entries = QueueView(repo, tip).entries(A)
    assert next(entries) == tasks[0]
    with pytest.raises(CorruptState, match=r"cannot be read .*the reconciler rewrites it at its next pass"):
        list(entries)


@pytest.mark.parametrize(
    ("files", "ok"),
    [
        ({META_FILE: meta().encode()}, True),
        ({}, False),
        ({LEGACY_FILE: b'{"tasks": []}'}, False),
        ({META_FILE: b"{not json"}, False),
        ({META_FILE: b'{"missions": []}'}, False),
        ({f"{META_FILE}/x": b"a directory"}, False),
    ],
)
def test_queue_ok_says_whether_the_meta_can_be_read(repo: pygit2.Repository, files: dict[str, bytes], ok: bool) -> None:
    tip = commit_files(repo, None, {"m/t.json": b"{}", **files})
    assert queue_ok(repo[tip].peel(pygit2.Commit).tree) is ok
    if not ok:
        with pytest.raises(CorruptState, match="rewrites it at its next pass"):
            read_queue(repo, tip)


def test_queue_files_and_queue_changes_see_the_queue_and_the_task_statuses(repo: pygit2.Repository) -> None:
    files = encode_queue(QueueIndex([entry(i) for i in range(3)], meta()))
    first = commit_files(repo, None, {"m/a.json": b"1", "n/x/b.json": b"1", LEGACY_FILE: b"{}", **files})
    assert set(queue_files(repo[first].peel(pygit2.Commit).tree)) == {LEGACY_FILE, *files}
    page = next(p for p in files if p != META_FILE)
    second = commit_files(repo, first, {"n/x/b.json": b"2", "m/c.json": b"1", LEGACY_FILE: None, page: None})
    keys, changed = queue_changes(repo, first, second)
    assert keys == {"n/b", "m/c"}
    assert changed == {LEGACY_FILE: None, page: None}
    third = commit_files(repo, second, {META_FILE: b"{}\n"})
    assert queue_changes(repo, second, third) == (set(), {META_FILE: str(pygit2.hash(b"{}\n"))})


entries_strategy = st.lists(
    st.builds(
        lambda i, agents, priority, created, not_before, generation, results: QueueEntry(
            TaskKey(f"m{i % 3}/t{i}"), priority, created, not_before, generation, "0" * 40, agents, 30, results
        ),
        st.integers(0, 10_000),
        st.sampled_from([(A,), (B,), (A, B), ()]),
        st.integers(0, 1000),
        st.floats(0, 2e9, allow_nan=False),
        st.none() | st.floats(0, 2e9, allow_nan=False),
        st.integers(0, 5),
        st.lists(st.sampled_from(["a" * 40, "b" * 40]), max_size=2).map(tuple),
    ),
    max_size=300,
    unique_by=lambda e: e.key,
)


@settings(max_examples=25, deadline=None)
@given(entries_strategy)
def test_any_queue_round_trips(tmp_path_factory: pytest.TempPathFactory, tasks: list[QueueEntry]) -> None:
    repo = pygit2.init_repository(str(tmp_path_factory.mktemp("r")), bare=True)
    tip = commit_files(repo, None, encode_queue(QueueIndex(tasks, meta())))
    listed = sorted((e for e in tasks if e.agents), key=lambda e: e.order)
    assert read_queue(repo, tip).tasks == listed
    assert set(tree_files(repo, tip, QUEUE_DIR)) == set(encode_queue(QueueIndex(tasks, meta())))
