"""`mc overlap check`: before a task exists, what it overlaps with, why and how strongly, and
which in-flight tasks' path scopes it conflicts with (docs/design.md, "Overlap").

Candidates come from the index (`overlap.index`): the nearest by embedding and the best
full-text hits, in the mission (or every mission). Each is scored on three channels and one
combined score (`overlap.scores`) and kept if it reaches the mission's weak threshold. Path
conflicts are the tasks Queued, Leased or Running whose `paths` can match a path the new task's
may. The check informs; what to do about a strong match is the mission's `overlap.onStrong`
and the caller's choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pygit2

from reconciler.gitstate.store import Store
from reconciler.manifests.globs import scopes_overlap
from reconciler.manifests.layout import MISSIONS_DIR, Location, mission_file
from reconciler.manifests.manifest_file import read_manifest
from reconciler.manifests.model import Mission, OverlapSettings
from reconciler.overlap.embed import Embedder, ModelUnavailable, default_embedder
from reconciler.overlap.index import Item, OverlapIndex
from reconciler.overlap.scores import STRONG, WEAK, Channels, combine, fuzzy, level, reason
from reconciler.overlap.text import document, identifiers, strip_title
from reconciler.vocabulary.kinds import Kind
from reconciler.vocabulary.phases import Phase
from reconciler.vocabulary.status import TaskStatus

CANDIDATES = 25  # per search (vector, full text)
MATCHES = 10  # matches returned
IN_FLIGHT = (Phase.QUEUED, Phase.LEASED, Phase.RUNNING)


@dataclass(frozen=True, slots=True)
class Thresholds:
    strong: float = STRONG
    weak: float = WEAK


@dataclass(frozen=True, slots=True)
class Query:
    mission: str
    title: str
    description: str = ""
    paths: tuple[str, ...] = ()
    all_missions: bool = False
    exclude: frozenset[str] = frozenset()  # task keys not to report (the task itself)


@dataclass(frozen=True, slots=True)
class Match:
    task: str
    kind: str  # task, or result (a published result's summary)
    title: str
    phase: str | None
    score: float
    level: str
    fuzzy: float
    lexical: float | None
    semantic: float | None
    reason: str

    def doc(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "kind": self.kind,
            "title": self.title,
            "phase": self.phase,
            "score": self.score,
            "level": self.level,
            "fuzzy": round(self.fuzzy, 4),
            "lexical": None if self.lexical is None else round(self.lexical, 4),
            "semantic": None if self.semantic is None else round(self.semantic, 4),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class PathConflict:
    task: str
    phase: str
    paths: tuple[str, ...]

    def doc(self) -> dict[str, Any]:
        return {"task": self.task, "phase": self.phase, "paths": list(self.paths)}


@dataclass(slots=True)
class Report:
    matches: list[Match] = field(default_factory=list)
    conflicts: list[PathConflict] = field(default_factory=list)
    index: str = "current"  # what the index had to do first: current, updated or rebuilt
    semantic: str | None = None  # why semantic scores are off, if they are

    @property
    def strong(self) -> list[Match]:
        return [m for m in self.matches if m.level == "strong"]

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "matches": [m.doc() for m in self.matches],
            "conflicts": [c.doc() for c in self.conflicts],
        }
        if self.semantic:
            doc["warnings"] = [f"semantic scores are off: {self.semantic}"]
        return doc


def thresholds_at(repo: pygit2.Repository, commit: str) -> dict[str, Thresholds]:
    """Mission -> its overlap thresholds, from each mission.yaml at `commit` (the defaults for a
    mission whose file does not validate)."""
    tree = repo[commit].peel(pygit2.Commit).tree
    out: dict[str, Thresholds] = {}
    if MISSIONS_DIR not in tree:
        return out
    for entry in tree[MISSIONS_DIR].peel(pygit2.Tree):
        name = entry.name
        if entry.type_str != "tree" or name is None:
            continue
        path = mission_file(name)
        try:
            blob = tree[path]
        except KeyError:
            continue
        mf = read_manifest(path, str(blob.id), blob.peel(pygit2.Blob).data, Location(Kind.MISSION, name))
        settings = mf.obj.overlap if isinstance(mf.obj, Mission) else OverlapSettings()
        out[name] = Thresholds(settings.strong, settings.weak)
    return out


def embedder_or_reason() -> tuple[Embedder | None, str | None]:
    try:
        return default_embedder(), None
    except ModelUnavailable as exc:
        return None, str(exc)


class OverlapChecker:
    """One repository's index and embedder, kept across checks (a service, or `mc validate --base`
    over many added tasks)."""

    def __init__(self, store: Store, embedder: Embedder | None = None, why_not: str | None = None) -> None:
        self.store = store
        if embedder is None and why_not is None:
            embedder, why_not = embedder_or_reason()
        self.embedder, self.why_not = embedder, why_not
        self.index = OverlapIndex(store.repo, embedder)
        self._extra_vectors: dict[str, Any] = {}  # embeddings of `extra` items, by id

    def check(
        self,
        query: Query,
        commit: str,
        statuses: Mapping[str, TaskStatus],
        thresholds: Mapping[str, Thresholds],
        extra: Iterable[Item] = (),
    ) -> Report:
        """Matches and path conflicts for `query` against the index at `commit`, plus `extra`
        items (tasks a change adds before this one)."""
        report = Report(index=self.index.ensure(commit), semantic=self.why_not)
        text = document(query.title, query.description, frozenset(self.index.meta.get("boilerplate", ())))
        vector = self.embedder.embed([strip_title(query.title)])[0] if self.embedder is not None else None
        where = None if query.all_missions else f"mission = '{query.mission}'"
        hits = self.index.search(text, vector, CANDIDATES, where)
        ids_q = identifiers(query.title)  # titles name what the work is about; descriptions are noisier
        own = thresholds.get(query.mission, Thresholds())
        candidates = [(h.item, h.vector, h.lexical) for h in hits]
        extra = [i for i in extra if query.all_missions or i.mission == query.mission]
        fresh = [i for i in extra if i.id not in self._extra_vectors]
        if fresh and self.embedder is not None:  # each added task is embedded once, however many follow it
            for item, item_vector in zip(
                fresh, self.embedder.embed([strip_title(i.title) for i in fresh]), strict=True
            ):
                self._extra_vectors[item.id] = item_vector
        candidates += [(i, self._extra_vectors.get(i.id), None) for i in extra]
        seen: set[str] = set()
        for item, item_vector, lexical in candidates:
            if item.key in query.exclude or item.id in seen:
                continue
            seen.add(item.id)
            semantic = float(vector @ item_vector) if vector is not None and item_vector is not None else None
            channels = Channels(fuzzy(query.title, item.title), lexical, semantic)
            score = combine(channels, ids_q, identifiers(item.title))
            found = level(score, own.strong, own.weak)
            if found is None:
                continue
            st = statuses.get(item.key)
            phase = "Published" if item.kind == "result" else (str(st.phase) if st is not None else None)
            why = reason(query.title, item.title, channels)
            report.matches.append(
                Match(item.key, item.kind, item.title, phase, score, found, channels.fuzzy, lexical, semantic, why)
            )
        report.matches.sort(key=lambda m: (-m.score, m.task))
        del report.matches[MATCHES:]
        if query.paths:
            report.conflicts = self._conflicts(query, statuses)
        return report

    def _conflicts(self, query: Query, statuses: Mapping[str, TaskStatus]) -> list[PathConflict]:
        flying = {k: st for k, st in statuses.items() if st.phase in IN_FLIGHT and k not in query.exclude}
        if not flying:
            return []
        scopes = self.index.paths_of(sorted(flying))
        return [
            PathConflict(key, str(flying[key].phase), paths)
            for key, paths in sorted(scopes.items())
            if paths and scopes_overlap(query.paths, paths)
        ]
