"""The claim queue a pass writes (`gitstate.queue`), kept in memory from pass to pass.

`queue_index` computes the queue from scratch: every Queued task of desired state with its
priority, age, backoff, processed generation, spec blob, eligible agents, TTL hint and the result
commits of the tasks it needs; per agent the tasks it holds, its replicas and budget; every
mission. `QueueBuilder` gives the same files from one call to the next, but looks only at the
tasks that changed (and at the tasks that need them, whose entries list their results): a call
costs O(changed * log n), and returns only the files that differ from what the status tree holds.
It rebuilds in full when told nothing (`changed=None`) or when the agents or missions changed.
`StatusQueue` is what a reconciler holds: a builder that follows the status chain and rebuilds
whenever it cannot vouch that the tree holds what it last wrote.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import pygit2

from reconciler.control.queue_pages import AgentPages, PageId
from reconciler.gitstate.queue import (
    META_FILE,
    QueueEntry,
    QueueIndex,
    QueueMeta,
    blob_id,
    cut_level,
    encode_page,
    queue_changes,
    queue_files,
)
from reconciler.manifests.desired import DesiredState
from reconciler.manifests.model import Task
from reconciler.vocabulary.clock import iso, parse_iso
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.phases import HELD, Phase
from reconciler.vocabulary.status import TaskStatus

Selector = tuple[str, str | None, tuple[tuple[str, str], ...]]


def queue_index(statuses: Mapping[str, TaskStatus], desired: DesiredState) -> QueueIndex:
    """The queue of `statuses` under `desired`, from scratch."""
    builder = QueueBuilder()
    entries = (builder.entry(k, statuses, desired)[0] for k in statuses)
    tasks = sorted((e for e in entries if e is not None), key=lambda e: e.order)
    running: dict[str, int] = {}
    for st in statuses.values():
        holder = _holder(st)
        if holder is not None:
            running[holder] = running.get(holder, 0) + 1
    return QueueIndex(tasks, _meta(desired, running))


def _holder(st: TaskStatus | None) -> str | None:
    return st.holder if st is not None and st.phase in HELD and st.holder else None


def _meta(desired: DesiredState, running: dict[str, int]) -> QueueMeta:
    declared = [a for ms in desired.missions.values() for a in ms.agents.values()]
    replicas = {a.agent_id: a.replicas for a in declared}
    budgets = {a.agent_id: a.budget.spend_limit for a in declared if a.budget.spend_limit}
    return QueueMeta(dict(running), replicas, sorted(desired.missions), budgets)


def _agents_fingerprint(desired: DesiredState) -> tuple[object, ...]:
    """What the queue reads of agents and missions: when it changes, the queue is rebuilt."""
    return tuple(
        (
            name,
            tuple(
                (a.agent_id, a.meta.name, tuple(sorted(a.meta.labels.items())), a.replicas, a.budget.spend_limit)
                for a in ms.agents.values()
            ),
        )
        for name, ms in sorted(desired.missions.items())
    )


@functools.lru_cache(maxsize=4096)
def _as_recorded(ts: float) -> float:
    """`ts` as a status file records it (to the millisecond): a reconciler that read the statuses
    from Git builds the same queue as the one that wrote them, not one that differs in every
    entry (and so in every page). Tasks declared in one pass share their time: cached."""
    recorded = parse_iso(iso(ts))
    assert recorded is not None
    return recorded


def spec_changes(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    """The tasks whose manifest (blob) was added, changed or removed between `old` and `new`."""
    if old is new:
        return set()
    return {k for k, blob in new.items() if old.get(k) != blob} | {k for k in old if k not in new}


class QueueBuilder:
    """The queue's files, updated from the tasks that changed since the last call."""

    def __init__(self) -> None:
        self.tree: dict[str, str] = {}  # path -> blob id: the queue files as the status tree holds them
        self.fingerprint: tuple[object, ...] | None = None  # None: nothing built yet
        self._clear()

    def _clear(self) -> None:
        self.entries: dict[str, QueueEntry] = {}
        self.lines: dict[str, bytes] = {}
        self.levels: dict[str, int] = {}
        self.needs: dict[str, tuple[str, ...]] = {}  # Queued task -> the tasks it needs
        self.dependents: dict[str, set[str]] = {}  # task -> the Queued tasks that need it
        self.holders: dict[str, str] = {}
        self.running: dict[str, int] = {}
        self.agents: dict[str, AgentPages] = {}
        self.selectors: dict[Selector, tuple[str, ...]] = {}

    def adopt(self, existing: Mapping[str, str]) -> None:
        """What the status tree holds now (`gitstate.queue.queue_files`): the next call builds
        from scratch and gives what differs from it, deleting what it does not hold."""
        self.tree = dict(existing)
        self.fingerprint = None

    def files(
        self, statuses: Mapping[str, TaskStatus], changed: set[str] | None, desired: DesiredState
    ) -> dict[str, bytes | None]:
        """The files that differ from the last call's (path -> bytes, None to delete), given
        every status and the tasks whose status or manifest changed since (None: unknown)."""
        fingerprint = _agents_fingerprint(desired)
        if changed is None or fingerprint != self.fingerprint:
            return self._build(statuses, desired, fingerprint)
        keys = set(changed)
        for k in changed:
            keys |= self.dependents.get(k, set())
        touched: dict[str, set[PageId]] = {}
        for k in keys:
            self._count(k, statuses.get(k))
            entry, needs = self.entry(k, statuses, desired)
            self._index_needs(k, needs)
            old = self.entries.get(k)
            if entry != old:
                self._replace(k, old, entry, touched)
        written: dict[str, bytes] = {META_FILE: _meta(desired, self.running).encode()}
        gone: set[str] = set()
        for agent, pids in touched.items():
            pages = self.agents[agent]
            gone.update(p for p in (pages.paths.pop(pid, None) for pid in pids) if p is not None)
            written.update(self._encode(pages, pids))
            if not pages:
                del self.agents[agent]
        return self._diff(written, gone)

    def entry(
        self, key: str, statuses: Mapping[str, TaskStatus], desired: DesiredState
    ) -> tuple[QueueEntry | None, tuple[str, ...]]:
        """The queue entry of `key` (None unless it is Queued and declared) and the tasks it needs."""
        st = statuses.get(key)
        if st is None or st.phase != Phase.QUEUED:
            return None, ()
        task = desired.task(TaskKey(key))
        if task is None:
            return None, ()
        needs = tuple(TaskKey.of(st.mission, n) for n in task.needs)
        found = (statuses.get(n) for n in needs)
        results = tuple(s.result_commit for s in found if s is not None and s.result_commit)
        agents = self._eligible(desired, st.mission, task)
        entry = QueueEntry(
            st.key,
            task.priority,
            _as_recorded(st.created),
            None if st.not_before is None else _as_recorded(st.not_before),
            st.generation,
            st.spec,
            agents,
            task.timeout_seconds,
            results,
        )
        return entry, needs

    def _eligible(self, desired: DesiredState, mission: str, task: Task) -> tuple[str, ...]:
        selector = (mission, task.agent.name, tuple(sorted(task.agent.match_labels.items())))
        agents = self.selectors.get(selector)
        if agents is None:  # many tasks share a selector: match it against the agents once
            agents = tuple(a.agent_id for a in desired.missions[mission].agents_for(task))
            self.selectors[selector] = agents
        return agents

    def _build(
        self, statuses: Mapping[str, TaskStatus], desired: DesiredState, fingerprint: tuple[object, ...]
    ) -> dict[str, bytes | None]:
        self._clear()
        self.fingerprint = fingerprint
        for k, st in statuses.items():
            self._count(k, st)
            if st.phase == Phase.QUEUED:
                entry, needs = self.entry(k, statuses, desired)
                self._index_needs(k, needs)
                if entry is not None:
                    self._store(k, entry)
        by_agent: dict[str, list[QueueEntry]] = {}
        for entry in self.entries.values():
            for agent in entry.agents:
                by_agent.setdefault(agent, []).append(entry)
        written: dict[str, bytes] = {META_FILE: _meta(desired, self.running).encode()}
        for agent, mine in by_agent.items():
            mine.sort(key=lambda e: e.order)
            pages = AgentPages.bulk(agent, ((e.order, self.levels[e.key]) for e in mine))
            self.agents[agent] = pages
            written.update(self._encode(pages, list(pages.page_ids())))
        return self._diff(written, set(self.tree) - set(written))

    def _encode(self, pages: AgentPages, pids: list[PageId] | set[PageId]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for pid in pids:
            content = pages.page(pid)
            if content:
                path = pages.path(pid)
                pages.paths[pid] = path
                out[path] = encode_page(self.lines[order[2]] for order in content)
        return out

    def _diff(self, written: dict[str, bytes], gone: set[str]) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for path in gone:
            if path not in written and self.tree.pop(path, None) is not None:
                out[path] = None
        for path, data in written.items():
            blob = blob_id(data)
            if self.tree.get(path) != blob:
                self.tree[path] = blob
                out[path] = data
        return out

    def _count(self, key: str, st: TaskStatus | None) -> None:
        """Keep `running` (tasks held per agent) by delta."""
        new, old = _holder(st), self.holders.get(key)
        if new == old:
            return
        if old is not None:
            self.running[old] -= 1
            if not self.running[old]:
                del self.running[old]
            del self.holders[key]
        if new is not None:
            self.running[new] = self.running.get(new, 0) + 1
            self.holders[key] = new

    def _index_needs(self, key: str, needs: tuple[str, ...]) -> None:
        old = self.needs.get(key, ())
        if old == needs:
            return
        for n in old:
            self.dependents[n].discard(key)
            if not self.dependents[n]:
                del self.dependents[n]
        for n in needs:
            self.dependents.setdefault(n, set()).add(key)
        if needs:
            self.needs[key] = needs
        else:
            self.needs.pop(key, None)

    def _store(self, key: str, entry: QueueEntry) -> None:
        self.entries[key] = entry
        self.lines[key] = entry.line()
        if key not in self.levels:
            self.levels[key] = cut_level(key)

    def _replace(
        self, key: str, old: QueueEntry | None, new: QueueEntry | None, touched: dict[str, set[PageId]]
    ) -> None:
        same_place = old is not None and new is not None and old.order == new.order
        old_agents = set(old.agents) if old is not None else set()
        new_agents = set(new.agents) if new is not None else set()
        if new is not None:
            self._store(key, new)
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = cut_level(key)
        if old is not None:
            for agent in old_agents - (new_agents if same_place else set()):
                self.agents[agent].remove(old.order, level, touched.setdefault(agent, set()))
        if new is not None:
            for agent in new_agents:
                pages = self.agents.setdefault(agent, AgentPages(agent))
                mine = touched.setdefault(agent, set())
                if same_place and agent in old_agents:
                    mine.add(pages.page_of(new.order))  # same place, new content
                else:
                    pages.add(new.order, level, mine)
        else:
            del self.entries[key], self.lines[key], self.levels[key]


class StatusQueue:
    """The queue builder of a reconciler, following the status chain.

    Between two passes it checks, with one tree diff from the commit it last built on to the
    commit the pass read, that the queue there is what it last wrote (nothing else moved it, and
    its write landed); the task statuses that diff shows changed (by this reconciler or by
    anyone else) are updated with the pass's own. Otherwise (first pass, a queue missing or
    unreadable, a lost race, another writer) it rebuilds from scratch against what the tree holds."""

    def __init__(self) -> None:
        self.builder = QueueBuilder()
        self.base: str | None = None  # the status commit the last call built on
        self.sent: dict[str, str | None] = {}  # what it wrote on it: path -> blob id, None deleted
        self.keys: set[str] = set()  # the tasks it updated
        self.specs: Mapping[str, str] | None = None
        self.written: str | None = None  # the commit that landed with what the last call built

    def landed(self, commit: str) -> None:
        """The status commit holding the files the last call returned moved the ref: the queue
        there is what the builder holds, with no diff needed to tell."""
        self.written = commit

    def files(
        self,
        repo: pygit2.Repository,
        tip: str | None,
        queue_ok: bool,
        statuses: Mapping[str, TaskStatus],
        changed: set[str],
        desired: DesiredState,
        specs: Mapping[str, str],
        spec_changed: set[str] | None = None,
    ) -> dict[str, bytes | None]:
        """`spec_changed`, when the caller knows them, are the tasks whose manifest changed
        since the last call (else they are found by comparing every spec blob id)."""
        keys = self._since(repo, tip, queue_ok)
        self.written = None  # only the landing of what this call builds vouches for the next
        if keys is not None and self.specs is not None:
            moved = spec_changed if spec_changed is not None else spec_changes(self.specs, specs)
            keys |= changed | self.keys | moved
        else:
            keys = None
            self.builder.adopt(queue_files(repo[tip].peel(pygit2.Commit).tree if tip else None))
        out = self.builder.files(statuses, keys, desired)
        self.base, self.specs = tip, specs
        self.sent = {path: self.builder.tree.get(path) for path in out}
        self.keys = set(changed)  # recomputed next time too, in case this write does not land
        return out

    def _since(self, repo: pygit2.Repository, tip: str | None, queue_ok: bool) -> set[str] | None:
        """The tasks whose status changed since the last call, if the queue at `tip` is what the
        builder holds; None if it is not (or cannot be told)."""
        if self.base is None or tip is None or not queue_ok:
            return None
        if tip == self.base:
            return set() if not self.sent else None
        if tip == self.written:  # our own write, unchanged since: the statuses it changed are in `keys`
            return set()
        try:
            moved, files = queue_changes(repo, self.base, tip)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return moved if files == self.sent else None
