"""Rendering for `mc get` and `mc describe`: table columns, status fields and detail rows per kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.manifests.desired import DesiredState
from reconciler.manifests.model import Agent, Kluster, Manifest, Mission, Policy, Task
from reconciler.vocabulary.clock import iso
from reconciler.vocabulary.kinds import Kind
from reconciler.vocabulary.leases import Lease, LeaseState
from reconciler.vocabulary.nodes import NodeEvent, NodeRecord
from reconciler.vocabulary.spend import Spend
from reconciler.vocabulary.status import TaskStatus


def _labels(labels: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _agent_ref(task: Task) -> str:
    return task.agent.name or _labels(task.agent.match_labels)


def status(obj: Manifest, state: DesiredState, observed: dict[str, TaskStatus]) -> dict[str, Any]:
    if isinstance(obj, Agent):
        return {"agentId": obj.agent_id}
    if isinstance(obj, Task) and obj.mission is not None:
        live = observed.get(obj.key)
        extra = live.to_dict() if live is not None else {"phase": None}
        extra.pop("key", None)
        return {"agents": [a.agent_id for a in state.missions[obj.mission].agents_for(obj)], **extra}
    return {}


def _phase(task: Task, observed: dict[str, TaskStatus]) -> list[str]:
    st = observed.get(task.key)
    if st is None:
        return ["-", "", ""]
    attempts = f"{st.attempts}/{task.retries.max_attempts}" if st.attempts else ""
    return [str(st.phase), attempts, st.holder or ""]


LEASE_COLUMNS = ["TASK", "GEN", "STATE", "HOLDER", "NODE", "EXPIRES"]


def lease_row(key: str, lease: Lease | str, now: float) -> list[str]:
    if isinstance(lease, str):
        return [key, "-", "corrupt", "-", "", lease]
    if lease.state is LeaseState.ACTIVE:
        left = lease.expires_at - now
        expires = f"in {left:.0f}s" if left > 0 else f"{-left:.0f}s ago (expired)"
    else:
        expires = "-"
    return [key, str(lease.generation), lease.state, lease.agent, lease.node or "", expires]


def lease_doc(key: str, lease: Lease | str) -> dict[str, Any]:
    if isinstance(lease, str):
        return {"task": key, "state": "corrupt", "reason": lease}
    return {
        "task": key,
        "generation": lease.generation,
        "state": lease.state,
        "agent": lease.agent,
        "node": lease.node,
        "grantedAt": iso(lease.granted_at),
        "renewedAt": iso(lease.renewed_at),
        "expiresAt": iso(lease.expires_at),
        "startedAt": iso(lease.started_at),
        "reason": lease.reason,
        "spend": lease.spend.to_dict(),
        "budget": lease.budget.to_dict(),
    }


NODE_COLUMNS = ["NODE", "HEALTH", "LABELS", "CAPACITY", "RUNNING", "HEARTBEAT", "VERSION"]


def _health(record: NodeRecord, now: float) -> str:
    if record.event is NodeEvent.STOP:
        return "stopped"
    return "healthy" if record.healthy(now) else "lapsed"


def node_row(name: str, record: NodeRecord | str, now: float) -> list[str]:
    if isinstance(record, str):
        return [name, "corrupt", "", "", "", record, ""]
    return [
        name,
        _health(record, now),
        _labels(record.labels),
        str(record.capacity),
        f"{len(record.running)}" + (f" ({', '.join(record.running)})" if record.running else ""),
        f"{now - record.heartbeat_at:.0f}s ago",
        record.version,
    ]


def node_doc(name: str, record: NodeRecord | str, now: float) -> dict[str, Any]:
    if isinstance(record, str):
        return {"node": name, "health": "corrupt", "reason": record}
    return {
        "node": name,
        "health": _health(record, now),
        "labels": record.labels,
        "capacity": record.capacity,
        "running": record.running,
        "load": len(record.running),
        "heartbeatAt": iso(record.heartbeat_at),
        "startedAt": iso(record.started_at),
        "version": record.version,
    }


COLUMNS: dict[Kind, tuple[list[str], Callable[[Any, DesiredState, dict[str, TaskStatus]], list[str]]]] = {
    Kind.MISSION: (
        ["NAME", "DOMAIN", "OWNERS", "KLUSTERS", "AGENTS", "TASKS", "SPEND", "SUSPENDED"],
        lambda m, s, o: [
            m.name,
            m.domain,
            ",".join(m.owners),
            str(len(s.missions[m.name].klusters)),
            str(len(s.missions[m.name].agents)),
            str(len(s.missions[m.name].tasks)),
            _spend_of(m, o),
            "yes" if m.suspend else "",
        ],
    ),
    Kind.KLUSTER: (
        ["MISSION", "NAME", "OUTCOME", "ARCHIVED"],
        lambda k, s, o: [k.mission, k.name, k.outcome, "yes" if k.archived else ""],
    ),
    Kind.AGENT: (
        ["MISSION", "NAME", "ID", "LABELS", "COMMAND", "REPLICAS"],
        lambda a, s, o: [a.mission, a.name, a.agent_id, _labels(a.meta.labels), " ".join(a.command), str(a.replicas)],
    ),
    Kind.POLICY: (
        ["MISSION", "NAME", "VERSION", "STATE", "RULES"],
        lambda p, s, o: [p.mission, p.name, str(p.version), p.state, str(len(p.rules))],
    ),
    Kind.TASK: (
        ["MISSION", "NAME", "PHASE", "ATTEMPTS", "HOLDER", "TITLE", "AGENT", "NEEDS"],
        lambda t, s, o: [t.mission, t.name, *_phase(t, o), t.title, _agent_ref(t), ",".join(t.needs)],
    ),
}


def mission_spend(mission: str, observed: dict[str, TaskStatus]) -> Spend:
    """What a mission's ended attempts reported spending (running attempts count when they end)."""
    total = Spend()
    for st in observed.values():
        if st.mission == mission:
            total = total + st.spend
    return total


def _spend_of(m: Mission, observed: dict[str, TaskStatus]) -> str:
    spent = mission_spend(m.name, observed)
    return f"${spent.cost_usd:.4f}" + (f" of {m.spend_cap}" if m.spend_cap else "")


def describe_lines(obj: Manifest, state: DesiredState, observed: dict[str, TaskStatus]) -> list[tuple[str, str]]:
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
            ("Spend", f"{mission_spend(obj.name, observed)} (cap: {obj.spend_cap})"),
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
                f"wall {_or_dash(obj.budget.wall_time_seconds)}s per run; {obj.budget.spend_limit} per run",
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
        rows += observed_lines(observed.get(obj.key))
    return rows


def observed_lines(st: TaskStatus | None) -> list[tuple[str, str]]:
    if st is None:
        return [("Phase", "- (no status yet: is the reconciler running?)")]
    rows = [
        ("Phase", f"{st.phase} since {iso(st.last_transition)}: {st.message}"),
        ("Attempts", f"{st.attempts} used, {st.failures} of them failed; lease generation {st.generation}"),
        ("Holder", f"{st.holder or '-'}" + (f" on {st.node}" if st.node else "")),
    ]
    if st.not_before is not None:
        rows.append(("Not before", iso(st.not_before) or "-"))
    if st.result_commit:
        rows.append(("Result", st.result_commit))
    if st.spend:
        rows.append(("Spend", f"{st.spend} (ended attempts)"))
    for c in st.conditions:
        rows.append((f"Condition {c.type}", f"{c.status} ({c.reason}) {c.message}"))
    for e in st.history[-15:]:
        rows.append(("History", f"{iso(e.at)} {e.source or 'new'} -> {e.target} (gen {e.generation}): {e.reason}"))
    return rows
