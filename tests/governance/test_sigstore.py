"""Sigstore bundles as approvals, verified offline with sigstore's bundled trust root against the
issuer and subject a principal declares; and the other principals that never approve: the agent
that ran the task, and node or reconciler (custody) keys.

The bundle is the real one in `fixtures/sigstore/` (copied from `../shared/fixtures/sigstore/`) (signing needs the network, so no
test can make a bundle over a statement of its own): it proves the verification path and the
identity match; the statement it signs is a wheel, so an approval made of it names nothing it could approve."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2

from reconciler.gitstate.approvals import approvals_ref, read_approvals, record_sigstore_approval
from reconciler.gitstate.store import open_store
from reconciler.governance.gate import judge, signer_of
from reconciler.governance.signatures import Signer, sigstore_signer
from reconciler.manifests.model import Meta, Policy, Principal, Principals, Requirement, Rule, SigstoreIdentity
from reconciler.vocabulary.approvals import ApprovalForm, ApprovalRecord
from reconciler.vocabulary.keys import TaskKey
from reconciler.vocabulary.kinds import PolicyAction, PolicyState, PrincipalKind
from reconciler.vocabulary.trailers import Trailer
from tests.conftest import git, mc, write
from tests.governance.conftest import PRINCIPALS, claims, sign_as, verdicts

FIXTURES = Path(__file__).parent / "fixtures" / "sigstore"  # a copy of ../shared/fixtures/sigstore/
ARTIFACT = FIXTURES / "bundle_v3_github.whl"
BUNDLE = FIXTURES / "bundle_v3_github.whl.sigstore"
ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"


def test_the_real_bundle_verifies_offline_for_its_identity_only() -> None:
    data, bundle = ARTIFACT.read_bytes(), BUNDLE.read_bytes()
    ours = {"release-ci": [(ISSUER, SUBJECT)], "someone": [("https://accounts.google.com", "a@example.com")]}
    who = sigstore_signer(bundle, data, ours)
    assert who == Signer("release-ci", f"sigstore:{SUBJECT}")
    assert sigstore_signer(bundle, data + b"\0", ours).principal is None  # altered after signing
    wrong = sigstore_signer(bundle, data, {"someone": ours["someone"], "other": [(ISSUER, SUBJECT + "x")]})
    assert wrong.principal is None
    assert "does not verify" in wrong.reason
    assert sigstore_signer(b"{}", data, ours).reason.startswith("the sigstore bundle cannot be read")
    assert sigstore_signer(None, data, ours).reason == "no sigstore bundle"


def _with_ci(repo: Path, keys: dict[str, Path]) -> None:
    """Declare the fixture's workflow identity as principal `ci`, an officer."""
    public = {n: keys[n].with_suffix(".pub").read_text().strip() for n in ("alice", "carol")}
    text = PRINCIPALS.format(**public).replace(
        "  groups:",
        f"    - name: ci\n      kind: ci\n      sigstore: [{{issuer: '{ISSUER}', subject: '{SUBJECT}'}}]\n  groups:",
    )
    write(repo, "principals.yaml", text.replace("members: [alice]", "members: [alice, ci]"))
    git(repo, "commit", "-qam", "ci may approve")


def test_a_recorded_bundle_is_verified_but_counts_only_for_the_statement_it_signs(
    awaiting: tuple[Path, dict[str, Path]],
) -> None:
    repo, keys = awaiting
    _with_ci(repo, keys)
    store = open_store(pygit2.Repository(str(repo)), None)
    key = TaskKey("m/hello")
    record_sigstore_approval(store, approvals_ref(key), ARTIFACT.read_bytes(), BUNDLE.read_bytes(), "ci")
    [record] = read_approvals(store, key)
    assert record.form is ApprovalForm.SIGSTORE
    assert record.signed == ARTIFACT.read_bytes()
    [verdict] = verdicts(repo)
    assert verdict["principal"] == "ci"
    assert verdict["fingerprint"] == f"sigstore:{SUBJECT}"
    assert verdict["counts"] is False
    assert verdict["reason"] == "it names desired state (none), which is not in the history of main"


def test_mc_approve_records_a_bundle_only_over_the_current_statement(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys = awaiting
    _with_ci(repo, keys)
    printed = mc("approve", "m/hello", "--print-statement", "-C", str(repo))
    assert printed.exit_code == 0, printed.output
    expected = claims(repo)
    for trailer, value in expected.items():
        assert f"{trailer}: {value}" in printed.stdout
    refused = mc("approve", "m/hello", "--sigstore-bundle", str(BUNDLE), "--statement", str(ARTIFACT), "-C", str(repo))
    assert refused.exit_code == 2
    assert "is not a statement approving what m/hello waits for" in refused.output
    assert "Traceback" not in refused.output
    half = mc("approve", "m/hello", "--sigstore-bundle", str(BUNDLE), "-C", str(repo), "-o", "json")
    assert half.exit_code == 2
    assert json.loads(half.stdout)["error"]["message"].startswith("a sigstore approval needs")
    assert git(repo, "for-each-ref", "refs/mc/approvals/") == ""


def _policy(approvals: int) -> Policy:
    rule = Rule("officers", PolicyAction.PUBLISH, require=Requirement(approvals, principals=("alice", "bob")))
    return Policy(Meta("gate"), "m", "missions/m/policies/gate.yaml", "", 1, PolicyState.ACTIVE, (rule,))


def _record(form: ApprovalForm, commit: str) -> ApprovalRecord:
    trailers = {
        Trailer.TASK: "m/t",
        Trailer.ACTION: "publish",
        Trailer.APPROVES: "r" * 40,
        Trailer.POLICY: "gate@1",
    }
    return ApprovalRecord(commit, trailers, "x", 0.0, b"sig", b"", form)


def test_one_principal_counts_once_across_an_ssh_and_a_sigstore_approval() -> None:
    """The gate's own rule, with a stand-in signer (no bundle over a statement of ours can exist
    offline): alice's SSH approval and her sigstore approval are one approver, not two."""
    people = Principals(
        Meta("principals"),
        None,
        "principals.yaml",
        (
            Principal("alice", sigstore=(SigstoreIdentity(ISSUER, SUBJECT),), ssh_keys=("ssh-ed25519 AAAA",)),
            Principal("bob", ssh_keys=("ssh-ed25519 BBBB",)),
        ),
    )
    records = [_record(ApprovalForm.SSH, "a" * 40), _record(ApprovalForm.SIGSTORE, "b" * 40)]
    policy = _policy(2)
    gate = judge(
        "m/t",
        PolicyAction.PUBLISH,
        "r" * 40,
        [(policy, policy.rules[0])],
        records,
        lambda _: (people, None),
        signer=lambda r, _: Signer("alice", "fp-" + r.form),
    )
    assert not gate.open
    assert [v.counts for v in gate.verdicts] == [True, False]
    assert gate.verdicts[1].reason == "alice is already counted for rule officers"


def test_a_node_key_and_the_executing_agent_never_approve(awaiting: tuple[Path, dict[str, Path]]) -> None:
    repo, keys = awaiting
    public = {n: keys[n].with_suffix(".pub").read_text().strip() for n in ("alice", "carol", "mallory")}
    text = PRINCIPALS.format(alice=public["alice"], carol=public["carol"]).replace(
        "  groups:",
        f'    - name: worker-bot\n      kind: agent\n      agent: m/worker\n      sshKeys: ["{public["mallory"]}"]\n'
        "  groups:",
    )
    write(repo, "principals.yaml", text.replace("members: [alice]", "members: [alice, worker-bot, carol]"))
    git(repo, "commit", "-qam", "the worker agent has a key")
    sign_as(repo, keys["mallory"])
    assert mc("approve", "m/hello", "-C", str(repo)).exit_code == 0
    [verdict] = verdicts(repo)
    assert verdict["principal"] == "worker-bot"
    assert verdict["counts"] is False
    assert verdict["reason"] == "worker-bot is the agent that ran the task; it never approves its own work"

    write(repo, "principals.yaml", text.replace("kind: agent\n      agent: m/worker", "kind: node"))
    git(repo, "commit", "-qam", "the key is a node's now")
    assert mc("approve", "m/hello", "-C", str(repo)).exit_code == 0
    verdict = verdicts(repo)[-1]
    assert verdict["counts"] is False
    assert "is a node principal" in verdict["reason"]


def test_signer_of_dispatches_by_form(awaiting: tuple[Path, dict[str, Path]]) -> None:
    people = Principals(Meta("principals"), None, "principals.yaml", (Principal("ci", PrincipalKind.CI),))
    record = ApprovalRecord("c" * 40, {}, "x", 0.0, BUNDLE.read_bytes(), ARTIFACT.read_bytes(), ApprovalForm.SIGSTORE)
    assert signer_of(record, people).reason == "no principal declares a sigstore identity"
