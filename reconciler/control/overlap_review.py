"""Overlap findings for a change (`mc validate --base REV`): every task the change adds is checked
against the tasks at REV and against the tasks the change added before it, so of two tasks
added in the same change only the later is reported, against the earlier. "Before" is the order
of the commits that added them (`REV..HEAD`, oldest first), then files not committed yet, each
group by path.

A strong match is a warning (an error when the mission's `overlap.onStrong` is `refuse`); weak
matches are not reported here (detectors that block on weak matches get switched off).
"""

from __future__ import annotations

from collections.abc import Iterable

import pygit2

from reconciler.control.overlap_check import OverlapChecker, Query, thresholds_at
from reconciler.gitstate.store import Store
from reconciler.manifests.findings import Finding
from reconciler.manifests.layout import classify
from reconciler.manifests.loader import Snapshot
from reconciler.manifests.model import Mission, Task
from reconciler.manifests.source import manifest_blobs
from reconciler.overlap.index import Item
from reconciler.vocabulary.kinds import Kind

REVIEW_SCAN = 1000  # commits of a change read for the order its tasks were added in


def _added_order(repo: pygit2.Repository, base: str, head: str | None) -> dict[str, int]:
    """Path -> the position of the commit that first added it, in `base..head`."""
    if head is None:
        return {}
    walker = repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(base)
    order: dict[str, int] = {}
    for n, commit in zip(range(REVIEW_SCAN), walker, strict=False):
        parent = commit.parents[0].tree if commit.parents else None
        diff = parent.diff_to_tree(commit.tree) if parent is not None else commit.tree.diff_to_tree(swap=True)
        for delta in diff.deltas:
            if delta.status == pygit2.enums.DeltaStatus.ADDED:
                order.setdefault(delta.new_file.path, n)
    return order


def _item(task: Task, oid: str) -> Item:
    key = str(task.key)
    return Item(
        "task:" + key, key, "task", task.mission or "", task.kluster, task.title, task.description, task.paths, oid
    )


def review(store: Store, base: str, head: str | None, snapshot: Snapshot, missions: Iterable[Mission]) -> list[Finding]:
    """Findings for the tasks `snapshot` (the change, at `head` or on disk) adds over `base`."""
    repo = store.repo
    at_base = manifest_blobs(repo, repo[base].peel(pygit2.Commit).tree)
    on_strong = {m.meta.name: m.overlap.on_strong for m in missions}
    added = []
    for mf in snapshot.manifests():
        location = classify(mf.path)
        if location is None or location.kind is not Kind.TASK or not isinstance(mf.obj, Task):
            continue
        if mf.path not in at_base:  # a changed task is not new work
            added.append(mf)
    if not added:
        return []
    order = _added_order(repo, base, head)
    added.sort(key=lambda mf: (order.get(mf.path, REVIEW_SCAN), mf.path))
    checker = OverlapChecker(store)
    thresholds = thresholds_at(repo, base)
    findings: list[Finding] = []
    earlier: list[Item] = []
    for mf in added:
        task = mf.obj
        assert isinstance(task, Task)
        mission = task.mission or ""
        if mission in thresholds:
            query = Query(mission, task.title, task.description, task.paths, exclude=frozenset({str(task.key)}))
            report = checker.check(query, base, {}, thresholds, extra=earlier)
            severity = "error" if on_strong.get(mission) == "refuse" else "warning"
            for match in report.strong:
                message = f"strongly overlaps {match.task} ({match.title!r}; score {match.score:.2f}: {match.reason})"
                findings.append(mf.finding(("spec", "title"), message, "overlap", severity=severity))
        earlier.append(_item(task, mf.oid))
    return findings
