"""Which rules govern a change to `principals.yaml` or to a mission's policy: the rules of the
version in force before the change (a change is never approved under its own rules).

A change to `principals.yaml` is governed by every active `change-principals` rule of any
mission's policies in force; a change to `missions/M/policies/F` by the active `change-policy`
rules of mission M's policies in force. A rule's `match.paths`, if given, must match the file.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.manifests.globs import glob_matches
from reconciler.manifests.layout import MISSIONS_DIR, PRINCIPALS_FILE
from reconciler.manifests.model import Policy, Rule
from reconciler.vocabulary.kinds import PolicyAction, PolicyState


def is_governed(path: str) -> bool:
    """Whether `path` is a file whose changes are governed: principals, or a mission's policy."""
    parts = path.split("/")
    return path == PRINCIPALS_FILE or (len(parts) == 4 and parts[0] == MISSIONS_DIR and parts[2] == "policies")


def change_action(path: str) -> PolicyAction:
    return PolicyAction.CHANGE_PRINCIPALS if path == PRINCIPALS_FILE else PolicyAction.CHANGE_POLICY


def change_rules(path: str, policies: Iterable[Policy]) -> list[tuple[Policy, Rule]]:
    """The rules, among the policies in force before the change, that govern changing `path`."""
    action = change_action(path)
    mission = path.split("/")[1] if action is PolicyAction.CHANGE_POLICY else None
    return [
        (policy, rule)
        for policy in policies
        if policy.state is PolicyState.ACTIVE and (mission is None or policy.mission == mission)
        for rule in policy.rules
        if rule.action is action and (not rule.match.paths or any(glob_matches(g, path) for g in rule.match.paths))
    ]
