"""Changes to principals.yaml and to policies are governed by the version before them: a change
comes into force only when the rules in force before it are satisfied (`mc approve --change`, or
a merge signed by a principal), never by approvals its own new rules would accept; until then
decisions use the version before, and `mc audit verify` names the change."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import git, mc, reconcile, status, write
from tests.governance.conftest import PRINCIPALS, cross_check, explain, sign_as, verdicts

GOVERNED = """\
apiVersion: missioncontrol.dev/v1
kind: Policy
metadata: {{name: gate}}
spec:
  version: {version}
  state: active
  rules:
    - name: one-officer
      action: publish
      match: {{tasks: [hello]}}
      require: {{approvals: 1, groups: [officers]}}
    - name: principals-by-officers
      action: change-principals
      require: {{approvals: {changes}, groups: [officers]}}
    - name: policy-by-officers
      action: change-policy
      require: {{approvals: {changes}, groups: [officers]}}
"""


def _commit_as(repo: Path, email: str, message: str) -> str:
    git(repo, "add", "-A")
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=someone", "-c", f"user.email={email}", "commit", "-qm", message],
        check=True,
    )
    return git(repo, "rev-parse", "HEAD").strip()


def _changes(repo: Path, *args: str) -> list[dict[str, Any]]:
    result = mc("policy", "changes", *args, "-C", str(repo), "-o", "json")
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)["changes"]
    return found


def _verify(repo: Path) -> tuple[int, str]:
    result = mc("audit", "verify", "-C", str(repo))
    return result.exit_code, result.output


def _governed(awaiting: tuple[Path, dict[str, Path]], changes: int = 1) -> tuple[Path, dict[str, Path], dict[str, str]]:
    repo, keys = awaiting
    write(repo, "missions/m/policies/gate.yaml", GOVERNED.format(version=3, changes=changes))
    _commit_as(repo, "ops@example.com", "govern changes to principals and policies")  # no rule before: in force
    public = {n: k.with_suffix(".pub").read_text().strip() for n, k in keys.items()}
    return repo, keys, public


def test_a_change_with_no_rule_before_it_is_in_force_at_once(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, _, _ = _governed(awaiting)
    assert _changes(repo) == []
    everything = _changes(repo, "--all")
    assert [c["in_force"] for c in everything] == [True] * len(everything)
    assert _verify(repo)[0] == 0


def test_a_principals_change_waits_for_the_approval_its_previous_version_requires(
    awaiting: tuple[Path, dict[str, Path]],
) -> None:
    repo, keys, public = _governed(awaiting)
    # mallory adds her own key and makes herself an officer: not in force
    text = PRINCIPALS.format(alice=public["alice"], carol=public["carol"]).replace(
        "  groups:", f'    - name: mallory\n      sshKeys: ["{public["mallory"]}"]\n  groups:'
    )
    write(repo, "principals.yaml", text.replace("members: [alice]", "members: [alice, mallory]"))
    change = _commit_as(repo, "mallory@example.com", "add mallory")
    [pending] = _changes(repo)
    assert pending["commit"] == change
    assert pending["path"] == "principals.yaml"
    assert pending["in_force"] is False
    assert pending["gate"]["rules"][0]["needs"] == 1

    # her approval of the task does not count: the principals in force do not know her key
    sign_as(repo, keys["mallory"])
    assert mc("approve", "m/hello", "-C", str(repo)).exit_code == 0
    [verdict] = verdicts(repo)
    assert verdict["counts"] is False
    assert verdict["reason"] == "signed by a key no principal declares"
    reconcile(repo)
    assert status(repo)["phase"] == "AwaitingApproval"

    # nor does her approval of the change itself: the version before it decides
    assert mc("approve", "--change", change, "-C", str(repo)).exit_code == 0
    [pending] = _changes(repo)
    assert pending["gate"]["approvals"][0]["reason"] == "signed by a key no principal declares"
    code, out = _verify(repo)
    assert code == 1
    assert f"principals.yaml: {change[:12]}: a change-principals without the approvals" in out

    # an officer in force approves the change: mallory's key counts from now on
    sign_as(repo, keys["alice"])
    approved = mc("approve", "--change", change[:10], "-C", str(repo), "-o", "json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["changes"][0]["in_force"] is True
    assert _changes(repo) == []
    assert explain(repo)["open"] is True
    reconcile(repo)
    assert status(repo)["phase"] == "Succeeded"


def test_a_policy_change_is_not_approved_under_its_own_looser_rules(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys, public = _governed(awaiting, changes=2)
    write(
        repo,
        "principals.yaml",
        PRINCIPALS.format(**{n: public[n] for n in ("alice", "carol")}).replace(
            "members: [alice]", "members: [alice, carol]"
        ),
    )
    _commit_as(repo, "ops@example.com", "carol is an officer")  # needs two officers: waits
    write(repo, "missions/m/policies/gate.yaml", GOVERNED.format(version=4, changes=1))
    loosen = _commit_as(repo, "alice@example.com", "one officer is enough to change things")
    sign_as(repo, keys["carol"])
    assert mc("approve", "--change", loosen, "-C", str(repo)).exit_code == 0
    found = {c["commit"]: c for c in _changes(repo)}
    gate = found[loosen]["gate"]
    assert found[loosen]["in_force"] is False
    assert gate["rules"][0]["policy"] == "gate"
    assert gate["rules"][0]["version"] == 3  # the version before the change decides: two officers
    assert gate["rules"][0]["needs"] == 2
    # carol's membership is itself a change waiting for two officers: she is not one yet
    assert gate["approvals"][0]["reason"] == "carol is not one rule policy-by-officers accepts (group officers)"
    # the author of the change (alice, by her e-mail) cannot be its second approver
    sign_as(repo, keys["alice"])
    assert mc("approve", "--change", loosen, "-C", str(repo)).exit_code == 0
    reasons = [a["reason"] for a in {c["commit"]: c for c in _changes(repo)}[loosen]["gate"]["approvals"]]
    assert "alice authored the change; rule policy-by-officers excludes its author" in reasons


def _carol_joins_on_a_branch(repo: Path, public: dict[str, str]) -> None:
    """A pull request's branch `more-carol` that makes carol an officer; main checked out again."""
    git(repo, "checkout", "-qb", "more-carol")
    officers = PRINCIPALS.format(alice=public["alice"], carol=public["carol"])
    write(repo, "principals.yaml", officers.replace("members: [alice]", "members: [alice, carol]"))
    _commit_as(repo, "carol@example.com", "carol joins the officers")
    git(repo, "checkout", "-q", "main")


def test_a_merge_signed_by_an_officer_approves_the_change_it_merges(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys, public = _governed(awaiting)
    _carol_joins_on_a_branch(repo, public)
    sign_as(repo, keys["alice"])
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=alice",
            "-c",
            "user.email=alice@example.com",
            "merge",
            "-q",
            "-S",
            "--no-ff",
            "-m",
            "Merge carol's membership",
            "more-carol",
        ],
        check=True,
    )
    merge = git(repo, "rev-parse", "HEAD").strip()
    [change] = [c for c in _changes(repo, "--all") if c["commit"] == merge]
    assert change["in_force"] is True
    assert change["gate"]["approvals"][0]["principal"] == "alice"
    cross_check(repo, keys, merge, expect_good=True)
    assert _verify(repo)[0] == 0


def test_an_unsigned_merge_approves_nothing(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys, public = _governed(awaiting)
    _carol_joins_on_a_branch(repo, public)
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge, unsigned", "more-carol")
    [change] = _changes(repo)
    assert change["gate"]["approvals"][0]["reason"] == "unsigned"
    cross_check(repo, keys, change["commit"], expect_good=False)
