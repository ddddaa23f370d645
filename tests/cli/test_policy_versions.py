"""`mc validate --base`: a policy whose rules change must get a new version, because approvals
name `policy@version` and would otherwise count under rules they never saw."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import git, mc, write

POLICY = """\
apiVersion: missioncontrol.dev/v1
kind: Policy
metadata: {{name: gate}}
spec:
  version: {version}
  state: active
  rules:
    - name: officers
      action: publish
      require: {{approvals: {approvals}, principals: [alice]}}
"""


def findings(repo: Path) -> list[dict[str, object]]:
    result = mc("validate", str(repo), "--base", "base", "-o", "json")
    found: list[dict[str, object]] = [f for f in json.loads(result.stdout) if f["rule"] == "policy-version"]
    return found


def test_changed_rules_need_a_new_version(repo: Path) -> None:
    write(repo, "missions/m/policies/gate.yaml", POLICY.format(version=1, approvals=1))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gate v1")
    git(repo, "branch", "base")
    write(repo, "missions/m/policies/gate.yaml", POLICY.format(version=1, approvals=2))
    [finding] = findings(repo)
    assert finding["field"] == "spec.version"
    assert finding["line"] == 5
    assert "raise it, since approvals name gate@1" in str(finding["message"])
    assert mc("validate", str(repo), "--base", "base").exit_code == 1
    write(repo, "missions/m/policies/gate.yaml", POLICY.format(version=2, approvals=2))
    assert findings(repo) == []
    write(repo, "missions/m/policies/gate.yaml", "# a comment only\n" + POLICY.format(version=1, approvals=1))
    assert findings(repo) == []  # the same rules: nothing to raise
