"""Rendering for `mc get` and `mc describe`: table columns, status fields and detail rows per kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.desired import DesiredState
from reconciler.model import Agent, Kluster, Manifest, Mission, Policy, Task


def _labels(labels: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _agent_ref(task: Task) -> str:
    return task.agent.name or _labels(task.agent.match_labels)


def status(obj: Manifest, state: DesiredState) -> dict[str, Any]:
    if isinstance(obj, Agent):
        return {"agentId": obj.agent_id}
    if isinstance(obj, Task) and obj.mission is not None:
        return {"agents": [a.agent_id for a in state.missions[obj.mission].agents_for(obj)]}
    return {}


COLUMNS: dict[str, tuple[list[str], Callable[[Any, DesiredState], list[str]]]] = {
    "Mission": (
        ["NAME", "DOMAIN", "OWNERS", "KLUSTERS", "AGENTS", "TASKS", "SUSPENDED"],
        lambda m, s: [
            m.name,
            m.domain,
            ",".join(m.owners),
            str(len(s.missions[m.name].klusters)),
            str(len(s.missions[m.name].agents)),
            str(len(s.missions[m.name].tasks)),
            "yes" if m.suspend else "",
        ],
    ),
    "Kluster": (
        ["MISSION", "NAME", "OUTCOME", "ARCHIVED"],
        lambda k, s: [k.mission, k.name, k.outcome, "yes" if k.archived else ""],
    ),
    "Agent": (
        ["MISSION", "NAME", "ID", "LABELS", "COMMAND", "REPLICAS"],
        lambda a, s: [a.mission, a.name, a.agent_id, _labels(a.meta.labels), " ".join(a.command), str(a.replicas)],
    ),
    "Policy": (
        ["MISSION", "NAME", "VERSION", "STATE", "RULES"],
        lambda p, s: [p.mission, p.name, str(p.version), p.state, str(len(p.rules))],
    ),
    "Task": (
        ["MISSION", "NAME", "TITLE", "KLUSTER", "AGENT", "NEEDS", "PRIORITY"],
        lambda t, s: [t.mission, t.name, t.title, t.kluster, _agent_ref(t), ",".join(t.needs), str(t.priority)],
    ),
}


def describe_lines(obj: Manifest, state: DesiredState) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [("Kind", obj.kind), ("Name", obj.name)]
    if obj.mission:
        rows.append(("Mission", obj.mission))
    rows += [("Source", obj.path), ("Labels", _labels(obj.meta.labels) or "-")]
    if isinstance(obj, Mission):
        ms = state.missions[obj.name]
        rows += [
            ("Domain", obj.domain or "-"),
            ("Owners", ", ".join(obj.owners)),
            ("Description", obj.description or "-"),
            ("Klusters", ", ".join(ms.klusters) or "-"),
            ("Agents", ", ".join(ms.agents) or "-"),
            ("Tasks", str(len(ms.tasks))),
        ]
    elif isinstance(obj, Kluster):
        rows += [("Outcome", obj.outcome), ("Archived", str(obj.archived).lower())]
    elif isinstance(obj, Agent):
        rows += [
            ("Agent ID", obj.agent_id),
            ("Command", " ".join(obj.command)),
            ("Replicas", str(obj.replicas)),
            ("Env granted", ", ".join(obj.permissions.env) or "-"),
            ("Secrets granted", ", ".join(obj.permissions.secrets) or "-"),
            ("Paths granted", ", ".join(obj.permissions.paths) or "-"),
            (
                "Budget",
                f"wall {_or_dash(obj.budget.wall_time_seconds)}s, cost ${_or_dash(obj.budget.cost_usd)}",
            ),
        ]
    elif isinstance(obj, Policy):
        rows += [("Version", str(obj.version)), ("State", obj.state)]
        for rule in obj.rules:
            who = ", ".join([*rule.require.principals, *(f"group:{g}" for g in rule.require.groups)]) or "any principal"
            rows.append((f"Rule {rule.name}", f"{rule.action}: {rule.require.approvals} approval(s) from {who}"))
    elif isinstance(obj, Task):
        assert obj.mission is not None
        ms = state.missions[obj.mission]
        r = obj.retries
        needed_by = sorted(t.name for t in ms.tasks.values() if obj.name in t.needs)
        rows += [
            ("Title", obj.title),
            ("Kluster", obj.kluster),
            ("Priority", str(obj.priority)),
            ("Needs", ", ".join(obj.needs) or "-"),
            ("Needed by", ", ".join(needed_by) or "-"),
            ("Agent", _agent_ref(obj) + " -> " + (", ".join(a.agent_id for a in ms.agents_for(obj)) or "none")),
            ("Paths", ", ".join(obj.paths) or "-"),
            (
                "Retries",
                f"{r.max_attempts} attempts, backoff {r.initial_seconds}s x{r.factor:g} up to {r.max_seconds}s",
            ),
            ("Timeout", f"{obj.timeout_seconds}s"),
            ("Approval", obj.approval_policy or "-"),
            ("Outputs", "schema" if obj.outputs_schema else "-"),
            ("Description", obj.description.strip() or "-"),
        ]
    return rows
