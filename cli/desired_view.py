"""Load desired state for the read commands (`get`, `describe`), and find objects by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.output import err
from reconciler.manifests.checks import errors
from reconciler.manifests.desired import DesiredState, index
from reconciler.manifests.loader import Snapshot, load
from reconciler.manifests.manifest_file import ManifestFile
from reconciler.manifests.model import Manifest
from reconciler.manifests.source import open_mission_repository
from reconciler.vocabulary.errors import UsageError
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import Kind

KIND_ALIASES = {
    **{kind.value.lower(): kind for kind in Kind if kind is not Kind.PRINCIPALS},
    "missions": Kind.MISSION,
    "klusters": Kind.KLUSTER,
    "agents": Kind.AGENT,
    "policies": Kind.POLICY,
    "tasks": Kind.TASK,
}


def kind_of(word: str) -> Kind:
    try:
        return KIND_ALIASES[word.lower()]
    except KeyError:
        raise UsageError(f"unknown kind {word!r}; use one of: missions, klusters, agents, policies, tasks") from None


def load_desired(repo: str, rev: str | None) -> tuple[Snapshot, DesiredState]:
    _, source = open_mission_repository(Path(repo), rev)
    snapshot = load(source)
    broken = {f.file for mf in snapshot.manifests() for f in errors(mf.findings)}
    if broken:
        err.print(
            f"[yellow]warning:[/yellow] {len(broken)} manifest(s) have errors and are not shown; run `mc validate`",
            markup=True,
        )
    return snapshot, index(snapshot.manifests())


def objects(state: DesiredState, kind: Kind, mission: str | None) -> list[Manifest]:
    if mission is not None and mission not in state.missions:
        raise UsageError(f"no mission {mission!r}; missions: {', '.join(sorted(state.missions)) or 'none'}")
    scopes = [state.missions[mission]] if mission else [state.missions[m] for m in sorted(state.missions)]
    if kind == Kind.MISSION:
        return [ms.mission for ms in scopes if ms.mission is not None]
    return [obj for ms in scopes for obj in sorted(ms.table(kind).values(), key=lambda o: o.name)]


def find(state: DesiredState, kind: Kind, name: str, mission: str | None) -> Manifest:
    """One object by `name` or `mission/name`; an error lists the candidates when ambiguous."""
    if "/" in name:
        key = TaskKey.parse(name)
        mission, name = key.mission, key.name
    matches = [o for o in objects(state, kind, mission) if o.name == name]
    if not matches:
        raise UsageError(f"no {kind} named {name!r}" + (f" in mission {mission!r}" if mission else ""))
    if len(matches) > 1:
        raise UsageError(f"{name!r} is ambiguous: {', '.join(o.key for o in matches)}; use MISSION/NAME or -m")
    return matches[0]


def document(snapshot: Snapshot, obj: Manifest, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest as written, plus a `status` section (as `kubectl get -o yaml` shows)."""
    mf = snapshot.files[obj.path]
    assert mf.doc is not None
    doc = dict(mf.doc.data)
    doc["status"] = {"mission": obj.mission, "source": obj.path, **(status or {})}
    return doc


def find_invalid(snapshot: Snapshot, kind: Kind, name: str, mission: str | None) -> ManifestFile | None:
    """The file declaring `name` of `kind` if it does not validate (so it is not in the index)."""
    if "/" in name:
        key = TaskKey.parse(name)
        mission, name = key.mission, key.name
    for mf in snapshot.manifests():
        same = mf.location.kind == kind and mf.declared_name() == name
        if mf.obj is None and same and (mission is None or mf.location.mission == mission):
            return mf
    return None
