"""Which policy rules govern an action on a task."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.globs import scopes_overlap
from reconciler.model import Policy, Rule, RuleMatch, Task


def rule_matches(match: RuleMatch, task: Task) -> bool:
    """All given conditions hold; an empty match applies to every task."""
    if match.tasks and task.name not in match.tasks:
        return False
    if any(task.meta.labels.get(k) != v for k, v in match.labels.items()):
        return False
    return not match.paths or scopes_overlap(match.paths, task.paths)


def rules_for(policies: Iterable[Policy], task: Task, action: str) -> list[tuple[Policy, Rule]]:
    """The rules of active policies that govern `action` on `task`."""
    return [
        (policy, rule)
        for policy in policies
        if policy.state == "active"
        for rule in policy.rules
        if rule.action == action and rule_matches(rule.match, task)
    ]
