"""Checks across manifests: unique names, references that resolve, no dependency cycles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.manifests.desired import DesiredState, MissionState, index
from reconciler.manifests.findings import FieldPath, Finding
from reconciler.manifests.graph import find_cycles
from reconciler.manifests.layout import MISSIONS_DIR, PRINCIPALS_FILE, mission_file
from reconciler.manifests.loader import Snapshot
from reconciler.manifests.manifest_file import ManifestFile
from reconciler.manifests.model import Policy, Task
from reconciler.vocabulary.kinds import Kind, PrincipalKind


class _Checker:
    def __init__(self, snapshot: Snapshot, base: Mapping[str, str] | None) -> None:
        self.base = base
        self.files = snapshot.files
        self.findings: list[Finding] = []
        self.state: DesiredState = index(snapshot.manifests())
        # Names declared by files that failed their own checks: not "unknown" elsewhere.
        self.declared = {
            (mf.location.mission, mf.location.kind, mf.declared_name()) for mf in self.files.values() if mf.obj is None
        }

    def known(self, ms: MissionState, kind: Kind, name: str) -> bool:
        return name in ms.table(kind) or (ms.name, kind, name) in self.declared

    def add(self, path: str, where: FieldPath, message: str, rule: str = "reference") -> None:
        self.findings.append(self.files[path].finding(where, message, rule))

    def is_new(self, mf: ManifestFile) -> bool:
        """The file was added or changed since the base revision (every file, without one)."""
        return self.base is None or self.base.get(mf.path) != mf.oid

    def unique_names(self) -> None:
        """A duplicate name is reported on the file that introduced it: of the files declaring
        it, those new since the base revision; without one, or among equals, all but the first
        by path (which is the one the reconciler uses)."""
        groups: dict[tuple[str | None, str, str], list[ManifestFile]] = {}
        for mf in sorted(self.files.values(), key=lambda f: f.path):
            if mf.obj is not None:
                groups.setdefault((mf.obj.mission, mf.obj.kind, mf.obj.name), []).append(mf)
        for same in groups.values():
            if len(same) < 2:
                continue
            old = [mf for mf in same if not self.is_new(mf)]
            first = old[0] if old else same[0]
            line = first.doc.position(("metadata", "name"))[0] if first.doc else 0
            for mf in same:
                if mf is first or (old and not self.is_new(mf)):
                    continue
                assert mf.obj is not None
                self.add(
                    mf.path,
                    ("metadata", "name"),
                    f"duplicate {mf.obj.kind} name {mf.obj.name!r}; already defined in {first.path}:{line}",
                    "unique",
                )

    def principals(self) -> tuple[set[str], dict[str, set[str]]]:
        p = self.state.principals
        if p is None:
            return set(), {}
        names: set[str] = set()
        for i, person in enumerate(p.principals):
            if person.name in names:
                self.add(p.path, ("spec", "principals", i, "name"), f"duplicate principal {person.name!r}", "unique")
            names.add(person.name)
            if (person.kind is PrincipalKind.AGENT) != (person.agent is not None):
                where, field = (
                    (("spec", "principals", i, "agent"), "agent")
                    if person.agent
                    else (("spec", "principals", i, "kind"), "kind")
                )
                self.add(
                    p.path,
                    where,
                    f"'agent' names the agent (MISSION/AGENT) of a principal of kind agent, and only of one ({field})",
                )
        groups: dict[str, set[str]] = {}
        for i, group in enumerate(p.groups):
            if group.name in groups:
                self.add(p.path, ("spec", "groups", i, "name"), f"duplicate group {group.name!r}", "unique")
            groups[group.name] = set(group.members)
            for j, member in enumerate(group.members):
                if member not in names:
                    self.add(
                        p.path,
                        ("spec", "groups", i, "members", j),
                        f"unknown principal {member!r} (not in {PRINCIPALS_FILE})",
                    )
        return names, groups

    def missions(self, people: set[str]) -> None:
        dirs = {path.split("/")[1] for path in self.files if path.startswith(MISSIONS_DIR + "/")}
        if dirs and self.state.principals is None and PRINCIPALS_FILE not in self.files:
            self.findings.append(
                Finding(
                    PRINCIPALS_FILE,
                    0,
                    0,
                    "",
                    f"missing {PRINCIPALS_FILE}: missions name principals as owners and approvers",
                    "reference",
                )
            )
        for name in sorted(dirs):
            if mission_file(name) not in self.files:
                self.findings.append(
                    Finding(
                        f"{MISSIONS_DIR}/{name}",
                        0,
                        0,
                        "",
                        f"mission directory has no {mission_file(name).rsplit('/', 1)[1]}",
                        "reference",
                    )
                )
            ms = self.state.missions.get(name)
            if ms is not None and ms.mission is not None and ms.mission.overlap.weak > ms.mission.overlap.strong:
                overlap = ms.mission.overlap
                self.add(
                    ms.mission.path,
                    ("spec", "overlap", "weak"),
                    f"weak threshold {overlap.weak} is above the strong one {overlap.strong}",
                )
            if ms is None or ms.mission is None or self.state.principals is None:
                continue
            for i, owner in enumerate(ms.mission.owners):
                if owner not in people:
                    self.add(
                        ms.mission.path,
                        ("spec", "owners", i),
                        f"unknown principal {owner!r} (not in {PRINCIPALS_FILE})",
                    )

    def task(self, ms: MissionState, task: Task) -> None:
        where = f"in mission {ms.name!r}"
        if not self.known(ms, Kind.KLUSTER, task.kluster):
            self.add(task.path, ("spec", "kluster"), f"unknown kluster {task.kluster!r} {where}")
        for i, need in enumerate(task.needs):
            if need == task.name:
                self.add(task.path, ("spec", "needs", i), "a task cannot need itself", "cycle")
            elif not self.known(ms, Kind.TASK, need):
                self.add(task.path, ("spec", "needs", i), f"unknown task {need!r} {where}")
        if task.agent.name is not None and not self.known(ms, Kind.AGENT, task.agent.name):
            self.add(task.path, ("spec", "agent", "name"), f"unknown agent {task.agent.name!r} {where}")
        elif task.agent.name is None and not ms.agents_for(task) and not self.declared:
            labels = ", ".join(f"{k}={v}" for k, v in task.agent.match_labels.items())
            self.add(task.path, ("spec", "agent", "selector"), f"no agent {where} has the labels {labels}", "selector")
        if task.approval_policy is not None and not self.known(ms, Kind.POLICY, task.approval_policy):
            self.add(task.path, ("spec", "approval", "policy"), f"unknown policy {task.approval_policy!r} {where}")

    def policy(self, ms: MissionState, policy: Policy, people: set[str], groups: dict[str, set[str]]) -> None:
        names: set[str] = set()
        for r, rule in enumerate(policy.rules):
            at: FieldPath = ("spec", "rules", r)
            if rule.name in names:
                self.add(policy.path, (*at, "name"), f"duplicate rule {rule.name!r}", "unique")
            names.add(rule.name)
            for i, t in enumerate(rule.match.tasks):
                if not self.known(ms, Kind.TASK, t):
                    self.add(policy.path, (*at, "match", "tasks", i), f"unknown task {t!r} in mission {ms.name!r}")
            if self.state.principals is None:
                continue
            approvers = set()
            for i, p in enumerate(rule.require.principals):
                if p not in people:
                    self.add(
                        policy.path,
                        (*at, "require", "principals", i),
                        f"unknown principal {p!r} (not in {PRINCIPALS_FILE})",
                    )
                approvers.add(p)
            for i, g in enumerate(rule.require.groups):
                if g not in groups:
                    self.add(
                        policy.path, (*at, "require", "groups", i), f"unknown group {g!r} (not in {PRINCIPALS_FILE})"
                    )
                approvers |= groups.get(g, set())
            if not rule.require.principals and not rule.require.groups:
                approvers = set(people)
            if rule.require.approvals > len(approvers):
                self.add(
                    policy.path,
                    (*at, "require", "approvals"),
                    f"needs {rule.require.approvals} approvals but only {len(approvers)} principals can approve",
                    "satisfiable",
                )

    def cycles(self, ms: MissionState) -> None:
        """Report each dependency cycle once, as `a -> b -> a`, at the edge that closes it."""
        for cycle in find_cycles({name: task.needs for name, task in ms.tasks.items()}):
            task = ms.tasks[cycle[-2]]
            self.add(
                task.path,
                ("spec", "needs", task.needs.index(cycle[-1])),
                "dependency cycle: " + " -> ".join(cycle),
                "cycle",
            )

    def run(self) -> list[Finding]:
        self.unique_names()
        people, groups = self.principals()
        self.missions(people)
        for ms in self.state.missions.values():
            for task in ms.tasks.values():
                self.task(ms, task)
            for policy in ms.policies.values():
                self.policy(ms, policy, people, groups)
            self.cycles(ms)
        return self.findings


def cross_checks(snapshot: Snapshot, base: Mapping[str, str] | None = None) -> list[Finding]:
    return _Checker(snapshot, base).run()


def all_findings(snapshot: Snapshot, base: Mapping[str, str] | None = None) -> list[Finding]:
    """Every finding of a snapshot, sorted: per-file, layout warnings, and cross-file.

    `base` maps each manifest path of a base revision to its blob id: a finding that two
    files share (a duplicate name) is reported on the one that is new since then."""
    found: list[Finding] = [f for mf in snapshot.manifests() for f in mf.findings]
    found += snapshot.stray
    found += cross_checks(snapshot, base)
    return sorted(found, key=Finding.sort_key)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
