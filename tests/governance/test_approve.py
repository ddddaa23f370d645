"""Approvals as SSH-signed commits, verified offline against principals.yaml: `mc approve`
opens a publish gate for exactly the result it names; unsigned, unknown-key, stale and replayed
approvals never count, each with its reason in `mc policy explain`; every SSH verdict is
cross-checked against `git verify-commit` with an allowed-signers file of the same keys."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import MC, env, git, mc, reconcile, status, write
from tests.governance.conftest import POLICY, PRINCIPALS, claims, cross_check, explain, forge, keypair, sign_as


def test_a_signed_approval_by_an_officer_opens_the_gate_for_that_result(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys = awaiting
    sign_as(repo, keys["alice"])
    result = mc("approve", "m/hello", "--message", "read the packet", "-C", str(repo), "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["open"] is True
    assert data["approvals"][0]["principal"] == "alice"
    assert data["approvals"][0]["fingerprint"].startswith("SHA256:")
    cross_check(repo, keys, data["approval"], expect_good=True)
    body = git(repo, "log", "-1", "--format=%B", "refs/mc/approvals/m/hello")
    assert f"MC-Approves: {status(repo)['result_commit']}" in body
    assert "MC-Policy: gate@3" in body
    assert reconcile(repo)[0].startswith("m/hello: AwaitingApproval -> Succeeded (approvals verified")


@pytest.mark.parametrize(
    ("signer", "override", "reason"),
    [
        (None, {}, "unsigned"),
        ("mallory", {}, "signed by a key no principal declares"),
        ("carol", {}, "carol is not one rule one-officer accepts (group officers)"),
        ("alice", {"MC_Approves": "0" * 40}, "it approves commit 000000000000, not the current one"),
        ("alice", {"MC_Task": "m/other"}, "it approves task 'm/other', not m/hello"),
        ("alice", {"MC_Action": "run"}, "it approves 'run', not publish"),
        ("alice", {"MC_Policy": "gate@2"}, "it names policy 'gate@2', not gate@3"),
        ("alice", {"MC_Desired": "1" * 40}, "which is not in the history of main"),
    ],
)
def test_approvals_that_never_count(
    awaiting: tuple[Path, dict[str, Path]], signer: str | None, override: dict[str, str], reason: str
) -> None:
    repo, keys = awaiting
    commit = forge(repo, keys[signer] if signer else None, **claims(repo, **override))
    gate = explain(repo)
    approvals = gate["approvals"]
    assert isinstance(approvals, list)
    assert approvals[0]["counts"] is False
    assert reason in approvals[0]["reason"], approvals[0]
    assert gate["open"] is False
    reconcile(repo)
    assert status(repo)["phase"] == "AwaitingApproval"
    if signer is not None:
        cross_check(repo, keys, commit, expect_good=signer in ("alice", "carol"))


def test_a_signature_over_altered_content_does_not_count(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys = awaiting
    good = forge(repo, keys["alice"], **claims(repo))
    raw = git(repo, "cat-file", "commit", good)
    tampered = raw.replace("MC-Policy: gate@3", "MC-Policy: gate@3 ")  # one byte more, signature kept
    forged = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-t", "commit", "-w", "--stdin"],
        input=tampered,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(repo, "update-ref", "refs/mc/approvals/m/hello", forged)
    approvals = explain(repo)["approvals"]
    assert isinstance(approvals, list)
    verdicts = [(a["counts"], a["reason"]) for a in approvals]
    assert verdicts[-1][0] is False
    assert "does not verify" in verdicts[-1][1]
    cross_check(repo, keys, forged, expect_good=False)


def test_approving_needs_a_signing_key_and_a_result(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, _ = awaiting
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(repo.parent / "no-such-key.pub"))
    result = mc("approve", "m/hello", "-C", str(repo))
    assert result.exit_code == 2
    assert "git could not sign the approval" in result.stderr
    assert git(repo, "for-each-ref", "refs/mc/approvals/") == ""


def test_a_key_removed_from_the_principals_never_signs_even_naming_an_older_version(
    awaiting: tuple[Path, dict[str, Path]],
) -> None:
    repo, keys = awaiting
    before = git(repo, "rev-parse", "main").strip()
    rotated = keypair(repo.parent, "alice-new").with_suffix(".pub").read_text().strip()
    old = keys["alice"].with_suffix(".pub").read_text().strip()
    principals = repo / "principals.yaml"
    principals.write_text(principals.read_text().replace(old, rotated))
    git(repo, "commit", "-qam", "rotate alice's key")
    forge(repo, keys["alice"], **claims(repo, MC_Desired=before))  # names the version that had the key
    approvals = explain(repo)["approvals"]
    assert isinstance(approvals, list)
    assert (approvals[0]["counts"], approvals[0]["reason"]) == (False, "signed by a key no principal declares")


def test_publication_merges_the_approved_result_once_with_provenance_even_across_a_crash(
    awaiting: tuple[Path, dict[str, Path]],
) -> None:
    repo, keys = awaiting
    result = str(status(repo)["result_commit"])
    before = git(repo, "rev-parse", "main").strip()
    sign_as(repo, keys["alice"])
    assert mc("approve", "m/hello", "-C", str(repo)).exit_code == 0
    crashed = subprocess.run(
        [MC, "reconcile", "-C", str(repo)], env=env(MC_FAILPOINT="reconcile-after-publish"), check=False
    )
    assert crashed.returncode == -9  # killed after the merge, before the status commit
    assert status(repo)["phase"] == "AwaitingApproval"
    reconcile(repo)  # finds the result published already: no second merge
    assert status(repo)["phase"] == "Succeeded"
    merges = git(repo, "log", "--merges", "--format=%H", f"{before}..main").split()
    assert len(merges) == 1
    assert git(repo, "log", "-1", "--format=%P", "main").split() == [before, result]
    body = git(repo, "log", "-1", "--format=%B", "main")
    assert "MC-Task: m/hello" in body
    assert "MC-Approved-By: alice SHA256:" in body
    assert "MC-Generation: 1" in body


def test_the_task_s_author_does_not_approve_it(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys = awaiting
    task = repo / "missions/m/tasks/hello.yaml"
    task.write_text(task.read_text().replace("title: Say hello", "title: Say hello, please"))
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=Alice@Example.com",
            "commit",
            "-qam",
            "edit",
        ],
        check=True,
    )
    forge(repo, keys["alice"], **claims(repo))
    approvals = explain(repo)["approvals"]
    assert isinstance(approvals, list)
    assert (approvals[0]["counts"], approvals[0]["reason"]) == (
        False,
        "alice authored the task; rule one-officer excludes its author",
    )


@pytest.mark.parametrize(("signed", "counts"), [(True, True), (False, False)])
def test_a_signed_merge_of_the_result_into_main_is_an_approval(
    awaiting: tuple[Path, dict[str, Path]], signed: bool, counts: bool
) -> None:
    repo, keys = awaiting
    result = str(status(repo)["result_commit"])
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['alice'].with_suffix('.pub')}"] if signed else []
    subprocess.run(
        ["git", "-c", "user.name=Alice", "-c", "user.email=a@x", *sign, "-C", str(repo), "merge", "-q", "--no-ff"]
        + (["-S"] if signed else [])
        + ["-m", "Merge the result of m/hello", result],
        check=True,
    )
    merge = git(repo, "rev-parse", "main").strip()
    gate = explain(repo)
    approvals = gate["approvals"]
    assert isinstance(approvals, list)
    assert [(a["approval"], a["counts"]) for a in approvals] == [(merge, counts)]
    reconcile(repo)
    assert status(repo)["phase"] == ("Succeeded" if counts else "AwaitingApproval")
    assert git(repo, "rev-parse", "main").strip() == merge  # the merge is the publication: no second one
    if not counts:
        assert approvals[0]["reason"] == "unsigned"


def test_audit_prints_the_chain_of_custody_of_a_published_task(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys = awaiting
    sign_as(repo, keys["alice"])
    assert mc("approve", "m/hello", "-C", str(repo)).exit_code == 0
    reconcile(repo)
    result = mc("audit", "hello", "-C", str(repo), "-o", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["phase"] == "Succeeded"
    assert doc["declared"]["path"] == "missions/m/tasks/hello.yaml"
    assert [(g["generation"], g["state"]) for g in doc["leases"]] == [(1, "completed")]
    assert [w["kind"] for w in doc["work"]] == ["result"]
    assert doc["work"][-1]["commit"] == doc["result"]
    assert [(a["principal"], a["counts"]) for a in doc["approvals"]] == [("alice", True)]
    assert doc["publication"]["approvedBy"][0].startswith("alice SHA256:")
    text = mc("audit", "m/hello", "-C", str(repo))
    assert "approval" in text.stdout
    assert "published" in text.stdout


RUN_POLICY = """\
apiVersion: missioncontrol.dev/v1
kind: Policy
metadata: {name: start}
spec:
  version: 1
  state: active
  rules:
    - name: officer-starts-it
      action: run
      match: {tasks: [hello]}
      require: {approvals: 1, groups: [officers]}
"""


def test_a_run_gate_keeps_the_task_pending_until_its_exact_manifest_is_approved(repo: Path, tmp_path: Path) -> None:
    keys = {n: keypair(tmp_path, n) for n in ("alice", "carol")}
    public = {n: k.with_suffix(".pub").read_text().strip() for n, k in keys.items()}
    write(repo, "principals.yaml", PRINCIPALS.format(alice=public["alice"], carol=public["carol"]))
    write(repo, "missions/m/policies/start.yaml", RUN_POLICY)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a run gate")
    reconcile(repo)
    held = status(repo)
    assert held["phase"] == "Pending"
    conditions = held["conditions"]
    assert isinstance(conditions, list)
    assert any(c["reason"] == "RunApprovalRequired" for c in conditions)
    sign_as(repo, keys["carol"])
    refused = mc("approve", "hello", "--action", "run", "-C", str(repo), "-o", "json")
    assert refused.exit_code == 0, refused.output
    assert json.loads(refused.stdout)["open"] is False  # carol is no officer
    reconcile(repo)
    assert status(repo)["phase"] == "Pending"
    sign_as(repo, keys["alice"])
    assert mc("approve", "hello", "--action", "run", "-C", str(repo)).exit_code == 0
    reconcile(repo)
    assert status(repo)["phase"] == "Queued"
    task = repo / "missions/m/tasks/hello.yaml"
    task.write_text(task.read_text().replace("title: Say hello", "title: Say hello twice"))
    git(repo, "commit", "-qam", "change what was approved")
    reconcile(repo)
    assert status(repo)["phase"] == "Pending"  # the approval was for the manifest as it was
    explained = mc("policy", "explain", "hello", "--action", "run", "-C", str(repo), "-o", "json")
    verdicts = json.loads(explained.stdout)["approvals"]
    assert [v["counts"] for v in verdicts] == [False, False]
    assert "not the current one" in verdicts[1]["reason"]


def test_policy_rollback_brings_back_an_earlier_version_s_rules_as_a_new_version(repo: Path, tmp_path: Path) -> None:
    public = {n: keypair(tmp_path, n).with_suffix(".pub").read_text().strip() for n in ("alice", "carol")}
    write(repo, "principals.yaml", PRINCIPALS.format(alice=public["alice"], carol=public["carol"]))
    write(repo, "missions/m/policies/gate.yaml", POLICY)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gate v3")
    stricter = POLICY.replace("version: 3", "version: 4").replace("approvals: 1", "approvals: 2")
    write(repo, "missions/m/policies/gate.yaml", stricter)
    git(repo, "commit", "-qam", "gate v4: two approvals")
    before = git(repo, "rev-parse", "main").strip()
    result = mc("policy", "rollback", "m/gate", "--to", "3", "-C", str(repo), "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["restored"], data["version"]) == (3, 5)
    assert git(repo, "rev-parse", "main~1").strip() == before  # one commit on top, by compare-and-swap
    restored = git(repo, "show", "main:missions/m/policies/gate.yaml")
    assert "version: 5" in restored
    assert "approvals: 1" in restored
    assert mc("validate", str(repo), "--rev", "main").exit_code == 0
    missing = mc("policy", "rollback", "m/gate", "--to", "9", "-C", str(repo))
    assert missing.exit_code == 2
    assert "never had version 9; it had [3, 4, 5]" in missing.stderr


def test_audit_verify_holds_for_a_clean_record_and_names_tampering(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys = awaiting
    sign_as(repo, keys["alice"])
    assert mc("approve", "m/hello", "-C", str(repo)).exit_code == 0
    reconcile(repo)
    clean = mc("audit", "verify", "-C", str(repo))
    assert clean.exit_code == 0, clean.output
    assert "0 inconsistencies" in clean.stdout

    copy = repo.parent / "tampered"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(copy / ".git")], check=True)
    subprocess.run(["git", "-C", str(copy), "config", "--bool", "core.bare", "false"], check=True)
    result = str(status(repo)["result_commit"])
    tree = git(copy, "rev-parse", f"{result}^{{tree}}").strip()
    forged_result = subprocess.run(
        ["git", "-c", "user.name=x", "-c", "user.email=x@x", "-C", str(copy), "commit-tree", tree, "-p", result],
        input="Result of m/hello\n\nMC-Task: m/hello\nMC-Generation: 1\nMC-Kind: result\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(copy, "update-ref", "refs/heads/mc/work/m/hello", forged_result)  # a result no lease completed
    main = git(copy, "rev-parse", "main").strip()
    parents = ["-p", main, "-p", forged_result]
    sneaky = subprocess.run(
        ["git", "-c", "user.name=x", "-c", "user.email=x@x", "-C", str(copy), "commit-tree", tree, *parents],
        input="Publish m/hello\n\nMC-Task: m/hello\nMC-Approved-By: alice SHA256:forged 0000\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(copy, "update-ref", "refs/heads/main", sneaky)  # a publication of it, claiming alice approved
    found = mc("audit", "verify", "-C", str(copy), "-o", "json")
    assert found.exit_code == 1
    problems = {f["commit"]: f["problem"] for f in json.loads(found.stdout)}
    assert "no completed lease records" in problems[forged_result]
    assert "which no completed lease records" in problems[sneaky]


def test_audit_verify_names_a_publication_without_approvals(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, _ = awaiting
    result = str(status(repo)["result_commit"])
    git(repo, "merge", "-q", "--no-ff", "-m", "merged without asking", result)  # unsigned: approves nothing
    merge = git(repo, "rev-parse", "main").strip()
    found = mc("audit", "verify", "-C", str(repo), "-o", "json")
    assert found.exit_code == 1
    [finding] = json.loads(found.stdout)
    assert (finding["commit"], finding["task"]) == (merge, "m/hello")
    assert "a publication without the approvals it needs (unsigned)" in finding["problem"]


def test_an_exported_in_toto_statement_is_accepted_back_and_a_tampered_one_is_not(
    awaiting: tuple[Path, dict[str, Path]],
) -> None:
    repo, keys = awaiting
    sign_as(repo, keys["alice"])
    assert mc("approve", "m/hello", "-C", str(repo)).exit_code == 0
    reconcile(repo)
    exported = mc("audit", "export", "m/hello", "-C", str(repo))
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.stdout)
    assert data["_type"] == "https://in-toto.io/Statement/v1"
    assert data["subject"][0]["digest"]["gitCommit"] == git(repo, "rev-parse", "main").strip()
    good = repo.parent / "statement.json"
    good.write_text(json.dumps(data))
    assert mc("audit", "verify", "--statement", str(good), "-C", str(repo)).exit_code == 0
    data["predicate"]["approvals"][0]["principal"] = "bob"
    bad = repo.parent / "tampered.json"
    bad.write_text(json.dumps(data))
    refused = mc("audit", "verify", "--statement", str(bad), "-C", str(repo), "-o", "json")
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["problems"] == ["approvals: not what the repository records"]
