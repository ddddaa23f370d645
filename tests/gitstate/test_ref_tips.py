"""`RefTips` reads only the ref directories that moved, and never misses a move.

A hypothesis state machine writes, deletes and packs refs with real `git`, in the sharded lease
layout and the layout before it, and checks after every read that the tips equal a full walk
and that `read` named exactly the keys that moved. Timestamps are left fresh (then the racy
rule must distrust them), rounded down to 50 ms as a coarse filesystem clock leaves them, or
aged, always forward, past the racy window (then the stat signal is trusted and only changed
directories are read).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from reconciler.gitstate.nodes import NODES_PREFIX, node_name, node_ref
from reconciler.gitstate.ref_tips import RACY_NS, RefTips
from reconciler.gitstate.refs import LEASES_PREFIX, lease_key, lease_ref
from tests.conftest import GIT_ID, env

KEYS = [f"m{m}/t{t}" for m in range(3) for t in range(12)]  # 36 keys: some shards hold two


def _commits(repo: pygit2.Repository, n: int) -> list[str]:
    sig = pygit2.Signature("t", "t@t")
    tree = repo.TreeBuilder().write()
    return [str(repo.create_commit(None, sig, sig, f"c{i}", tree, [])) for i in range(n)]


def _git(path: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(["git", *GIT_ID, "-C", str(path), *args], input=stdin, text=True, env=env(), check=True)


def truth(repo: pygit2.Repository) -> tuple[dict[str, str], dict[str, str]]:
    """Every lease ref's tip by key, from a full walk, preferring the sharded name."""
    tips: dict[str, str] = {}
    names: dict[str, str] = {}
    for ref in repo.references.iterator():
        key = lease_key(ref.name)
        if key is None or (key in names and ref.name != lease_ref(key)):
            continue
        tips[key], names[key] = str(ref.target), ref.name
    return tips, names


class RefMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.path = Path(os.environ["REF_TIPS_TMP"]) / f"r{time.monotonic_ns()}"
        _git(self.path.parent, "init", "-q", "--bare", str(self.path))
        self.repo = pygit2.Repository(str(self.path))
        self.commits = _commits(self.repo, 4)
        self.tips = RefTips(self.repo, LEASES_PREFIX, lease_key, lease_ref, sharded=True)
        self.seen: tuple[dict[str, str], dict[str, str]] = ({}, {})
        self.clock = time.time() - 3600  # aged timestamps: an hour ago, and only ever forward

    @initialize()
    def first_read(self) -> None:
        self.read()

    @rule(key=st.sampled_from(KEYS), commit=st.integers(0, 3), legacy=st.booleans())
    def write(self, key: str, commit: int, legacy: bool) -> None:
        name = LEASES_PREFIX + key if legacy else lease_ref(key)
        _git(self.path, "update-ref", name, self.commits[commit])

    @rule(key=st.sampled_from(KEYS), legacy=st.booleans())
    def delete(self, key: str, legacy: bool) -> None:
        name = LEASES_PREFIX + key if legacy else lease_ref(key)
        if self.repo.references.get(name) is not None:
            _git(self.path, "update-ref", "-d", name)

    @rule(keys=st.lists(st.sampled_from(KEYS), min_size=2, max_size=6, unique=True), commit=st.integers(0, 3))
    def transaction(self, keys: list[str], commit: int) -> None:
        lines = "".join(f"update {lease_ref(k)} {self.commits[commit]}\n" for k in keys)
        _git(self.path, "update-ref", "--stdin", stdin=lines)

    @rule()
    def pack(self) -> None:
        _git(self.path, "pack-refs", "--all")

    @rule()
    def age(self) -> None:
        """Move every fresh timestamp back, past the racy window but after every earlier one."""
        for root, dirs, files in os.walk(self.path / "refs"):
            for name in [*dirs, *files, ""]:
                self._age(Path(root) / name)
        self._age(self.path / "packed-refs")

    def _age(self, path: Path) -> None:
        try:
            if time.time_ns() - path.stat().st_mtime_ns < 60 * 1_000_000_000:
                self.clock += 0.001
                os.utime(path, (self.clock, self.clock))
        except FileNotFoundError:
            pass

    @rule()
    def coarsen(self) -> None:
        """Round fresh timestamps down to 50 ms (finer than the racy window), as a filesystem with a coarse clock leaves them:
        two updates within one tick leave a directory's stat as it was."""
        for root, dirs, files in os.walk(self.path / "refs"):
            for name in [*dirs, *files, ""]:
                path = Path(root) / name
                ns = path.stat().st_mtime_ns
                if time.time_ns() - ns < 60 * 1_000_000_000:
                    os.utime(path, ns=(ns, ns - ns % 50_000_000))

    @rule()
    def read(self) -> None:
        changed = self.tips.read()
        tips, names = truth(self.repo)
        before_tips, before_names = self.seen
        moved = {k for k in tips.keys() | before_tips.keys() if tips.get(k) != before_tips.get(k)}
        renamed = {k for k in tips.keys() & before_tips.keys() if names[k] != before_names[k]}
        assert self.tips.tips == tips
        assert self.tips.names == names
        assert moved <= changed <= moved | renamed
        self.seen = (tips, names)

    @invariant()
    def aged_is_older_than_racy(self) -> None:
        assert time.time() - self.clock > RACY_NS / 1e9


@pytest.fixture
def ref_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REF_TIPS_TMP", str(tmp_path))
    return tmp_path


def test_ref_tips_equal_a_full_walk_after_any_history(ref_tmp: Path) -> None:
    machine = RefMachine.TestCase
    machine.settings = settings(
        max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine().runTest()


def test_a_quiet_directory_is_not_read(ref_tmp: Path) -> None:
    """Once timestamps are old, a read that finds no directory changed resolves no ref."""
    machine = RefMachine()
    for key in KEYS:
        machine.write(key, 0, legacy=False)
    machine.age()
    machine.read()
    resolved: list[str] = []
    real = machine.repo.references

    class Counting:
        def get(self, name: str) -> pygit2.Reference | None:
            resolved.append(name)
            return real.get(name)

        def iterator(self) -> object:
            resolved.append("walk")
            return real.iterator()

    machine.tips.repo = type("R", (), {"references": Counting(), "path": machine.repo.path})()
    assert machine.tips.read() == set()
    assert resolved == []
    machine.write(KEYS[0], 1, legacy=False)
    machine.age()
    assert machine.tips.read() == {KEYS[0]}
    assert resolved == [lease_ref(KEYS[0])]  # one directory changed, one file in it


def test_node_records_unsharded(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "--bare", "r")
    repo = pygit2.Repository(str(tmp_path / "r"))
    a, b = _commits(repo, 2)
    tips = RefTips(repo, NODES_PREFIX, node_name, node_ref, sharded=False)
    assert tips.read() == set()
    _git(tmp_path / "r", "update-ref", node_ref("n1"), a)
    assert tips.read() == {"n1"}
    assert tips.tips == {"n1": a}
    _git(tmp_path / "r", "update-ref", node_ref("n1"), b)
    _git(tmp_path / "r", "update-ref", node_ref("n2"), a)
    assert tips.read() == {"n1", "n2"}
    assert tips.tips == {"n1": b, "n2": a}
    _git(tmp_path / "r", "update-ref", "-d", node_ref("n1"))
    assert tips.read() == {"n1"}
    assert tips.tips == {"n2": a}


def test_a_fresh_directory_stat_is_not_trusted(ref_tmp: Path) -> None:
    """Two updates within one tick of a coarse clock leave a directory's stat as it was: a stat
    younger than the racy window must not be taken to mean "nothing moved"."""
    by_shard: dict[str, list[str]] = {}
    for key in KEYS:
        by_shard.setdefault(lease_ref(key).split("/")[-2], []).append(key)
    first, second = next(keys for keys in by_shard.values() if len(keys) > 1)[:2]
    machine = RefMachine()
    shard_dir = machine.path / lease_ref(first).rsplit("/", 1)[0]
    tick = time.time_ns() - RACY_NS // 4  # one tick of the coarse clock, a moment ago

    def stamp() -> None:  # every write within the tick leaves the directory at the tick's time
        os.utime(shard_dir, ns=(tick, tick))

    machine.write(first, 0, legacy=False)
    stamp()
    machine.read()
    machine.write(second, 1, legacy=False)
    stamp()
    machine.read()  # checks that `second` was seen
