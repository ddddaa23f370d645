"""Where each kind of manifest lives in a mission repository (docs/design.md, "Desired state")."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.vocabulary.kinds import Kind

PRINCIPALS_FILE = "principals.yaml"
MISSIONS_DIR = "missions"
MISSION_FILE = "mission.yaml"
TASKS_DIR = "tasks"
KIND_DIRS = {"klusters": Kind.KLUSTER, "agents": Kind.AGENT, "policies": Kind.POLICY, TASKS_DIR: Kind.TASK}
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Location:
    """What a path is expected to hold: a kind, and the mission it belongs to."""

    kind: Kind
    mission: str | None


def is_yaml(path: str) -> bool:
    return path.endswith(YAML_SUFFIXES)


def classify(path: str) -> Location | None:
    """The expected kind for a repository-relative path, or None if no manifest belongs there."""
    if path == PRINCIPALS_FILE:
        return Location(Kind.PRINCIPALS, None)
    parts = path.split("/")
    if parts[0] != MISSIONS_DIR or not is_yaml(path):
        return None
    if len(parts) == 3 and parts[2] == MISSION_FILE:
        return Location(Kind.MISSION, parts[1])
    if len(parts) == 4 and parts[2] in KIND_DIRS:
        return Location(KIND_DIRS[parts[2]], parts[1])
    if len(parts) > 4 and parts[2] == TASKS_DIR and all(parts[3:]):  # tasks/ may have subdirectories
        return Location(Kind.TASK, parts[1])
    return None


def nests(directory: str) -> bool:
    """Whether manifests are read from the subdirectories of `directory`: a mission's `tasks/`
    and the directories below it, so that a mission of 100,000 tasks need not keep them in one
    directory (a commit to a directory of N entries rewrites, and a pass diffs, a tree of N
    entries)."""
    parts = directory.split("/")
    return len(parts) >= 3 and parts[0] == MISSIONS_DIR and parts[2] == TASKS_DIR


def mission_file(mission: str) -> str:
    return f"{MISSIONS_DIR}/{mission}/{MISSION_FILE}"


def task_file(mission: str, task: str) -> str:
    return f"{MISSIONS_DIR}/{mission}/{TASKS_DIR}/{task}.yaml"


def is_mission_root(entries: set[str]) -> bool:
    """A directory holding these entries is a mission repository's root."""
    return MISSIONS_DIR in entries or PRINCIPALS_FILE in entries
