"""Which policy rules govern an action on a task."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.manifests.globs import scopes_overlap
from reconciler.manifests.model import Policy, Rule, RuleMatch, Task
from reconciler.vocabulary.kinds import PolicyAction, PolicyState


def rule_matches(match: RuleMatch, task: Task) -> bool:
    """All given conditions hold; an empty match applies to every task."""
    if match.tasks and task.name not in match.tasks:
        return False
    if any(task.meta.labels.get(k) != v for k, v in match.labels.items()):
        return False
    return not match.paths or scopes_overlap(match.paths, task.paths)


def rules_for(policies: Iterable[Policy], task: Task, action: PolicyAction) -> list[tuple[Policy, Rule]]:
    """The rules of active policies that govern `action` on `task`."""
    return [
        (policy, rule)
        for policy in policies
        if policy.state is PolicyState.ACTIVE
        for rule in policy.rules
        if rule.action == action and rule_matches(rule.match, task)
    ]
