"""`mc audit verify` names the custody commits nobody accountable signed (`control/custody.py`):
unsigned, signed by a key no principal declares, by a person's key, by a node where only a
reconciler writes, or altered after signing. Warnings by default; inconsistencies (exit 1) when
the mission sets `spec.audit.requireSignedCustody`. Every signature verdict is cross-checked
against `git verify-commit` with an allowed-signers file of the node and reconciler keys."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from reconciler.gitstate import signing
from reconciler.gitstate.refs import lease_ref
from tests.conftest import as_holder, claim, git, mc, rev
from tests.signers import chain, declare_principals, git_verifies, keys


@pytest.fixture(autouse=True)
def _unsigned() -> Iterator[None]:
    yield
    signing.configure(None)


def verify(repo: Path, *extra: str) -> tuple[int, list[dict[str, str]], list[str]]:
    """`mc audit verify -o json`: exit status, the inconsistencies, the warnings (on stderr)."""
    result = CliRunner().invoke(app, as_holder(["audit", "verify", "-C", str(repo), "-o", "json", *extra]))
    warnings = [line.removeprefix("warning: ") for line in result.stderr.splitlines() if line.startswith("warning: ")]
    return result.exit_code, json.loads(result.stdout), warnings


def require_signed_custody(repo: Path) -> None:
    mission = repo / "missions/m/mission.yaml"
    mission.write_text(mission.read_text() + "  audit: {requireSignedCustody: true}\n")
    git(repo, "commit", "-qam", "m requires signed custody")


def run_hello(repo: Path, node: Path | None, reconciler: Path | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """hello through a pass, a claim, a checkpoint, the result and a pass, each signed as given."""
    by_reconciler = ["--signing-key", str(reconciler)] if reconciler else []
    assert mc("reconcile", "-C", str(repo), *by_reconciler).exit_code == 0
    if node is not None:
        monkeypatch.setenv("MC_SIGNING_KEY", str(node))
    claim(repo)
    assert mc("checkpoint", "m/hello", "-g", "1", "--message", "half way", "-C", str(repo)).exit_code == 0
    assert mc("complete", "m/hello", "-g", "1", "-C", str(repo)).exit_code == 0
    monkeypatch.delenv("MC_SIGNING_KEY", raising=False)
    assert mc("reconcile", "-C", str(repo), *by_reconciler).exit_code == 0


def test_unsigned_custody_is_a_warning_and_an_inconsistency_when_the_mission_requires_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_hello(repo, None, None, monkeypatch)
    table = mc("audit", "verify", "-C", str(repo))
    assert table.exit_code == 0, table.output  # warnings leave the exit status alone
    assert "warning: m/hello: " in table.stdout
    assert "lease commit (generation 1, completed) is unsigned" in table.stdout
    assert "refs/mc/status: " in table.stdout
    assert "status commit is unsigned" in table.stdout
    code, inconsistencies, warnings = verify(repo)
    # grant, completed; checkpoint, result; every status commit
    assert (code, inconsistencies) == (0, [])
    assert len(warnings) == 4 + len(chain(repo, "refs/mc/status"))
    assert table.stdout.strip().endswith(f"the record holds: 0 inconsistencies, {len(warnings)} custody warnings")

    require_signed_custody(repo)
    code, inconsistencies, warnings = verify(repo)
    assert code == 1
    assert warnings == []
    assert {f["problem"] for f in inconsistencies} >= {
        "lease commit (generation 1, active) is unsigned",
        "checkpoint commit is unsigned",
        "result commit is unsigned",
        "status commit is unsigned",
    }
    code, inconsistencies, warnings = verify(repo, "--mission", "m")
    assert code == 1


@pytest.fixture
def signed(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Path]]:
    """hello's record, written by node n1 and reconciler rec, in a mission requiring signed custody;
    principals: nodes n1 and n2 (an ECDSA key, checked by ssh-keygen rather than in process),
    reconciler rec, the person alice; mallory's key is nobody's."""
    k = keys(tmp_path, "n1", "rec", "alice", "mallory")
    k["n2"] = tmp_path / "n2"
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "n2", "-f", str(k["n2"])], check=True)
    kinds = {"n1": "node", "n2": "node", "rec": "reconciler", "alice": "human"}
    declare_principals(repo, {name: (kind, k[name]) for name, kind in kinds.items()})
    require_signed_custody(repo)
    run_hello(repo, k["n1"], k["rec"], monkeypatch)
    return repo, k


def custodians(k: dict[str, Path]) -> dict[str, Path]:
    return {n: k[n] for n in ("n1", "n2", "rec")}


def test_a_node_s_and_a_reconciler_s_keys_are_accepted_a_person_s_and_an_unknown_one_are_not(
    signed: tuple[Path, dict[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, k = signed
    assert verify(repo) == (0, [], [])  # every custody commit signed by whom it should be
    for ref in (lease_ref("m/hello"), "refs/mc/status", "refs/heads/mc/work/m/hello"):
        for commit in chain(repo, ref, stop="main"):
            assert git_verifies(repo, commit, custodians(k))

    # a second task's commits, each by someone else
    (repo / "missions/m/tasks/hello.yaml").rename(repo / "missions/m/tasks/again.yaml")
    again = repo / "missions/m/tasks/again.yaml"
    again.write_text(again.read_text().replace("name: hello", "name: again"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "again")
    assert mc("reconcile", "-C", str(repo), "--signing-key", str(k["n1"])).exit_code == 0  # a node writes status
    by_node = str(rev(repo, "refs/mc/status"))
    checkpoints: dict[str, str] = {}
    for who in ("alice", "mallory", "n2"):
        monkeypatch.setenv("MC_SIGNING_KEY", str(k[who]))
        if who == "alice":
            claim(repo)
        step = mc("checkpoint", "m/again", "-g", "1", "--message", f"by {who}", "-C", str(repo))
        assert step.exit_code == 0, step.output
        checkpoints[who] = str(rev(repo, "refs/heads/mc/work/m/again"))
    monkeypatch.delenv("MC_SIGNING_KEY")

    code, inconsistencies, _ = verify(repo)
    assert code == 1
    problems = {f["commit"]: f["problem"] for f in inconsistencies}
    person = "is signed by alice, a human principal, not by a node or reconciler"
    assert problems[checkpoints["alice"]] == f"checkpoint commit {person}"
    assert problems[chain(repo, lease_ref("m/again"))[-1]] == f"lease commit (generation 1, active) {person}"
    assert problems[checkpoints["mallory"]].startswith("checkpoint commit is signed by a key no principal declares")
    assert checkpoints["n2"] not in problems  # a node's ECDSA key
    assert problems[by_node] == "status commit is signed by node n1: only a reconciler writes these"
    # git verify-commit agrees on every signature: custodians' keys verify, the others do not
    for who, commit in checkpoints.items():
        assert git_verifies(repo, commit, custodians(k)) is (who == "n2")
    assert git_verifies(repo, by_node, custodians(k))  # a good signature, by the wrong kind of custodian


def test_a_custody_commit_altered_after_signing_is_named(signed: tuple[Path, dict[str, Path]]) -> None:
    repo, k = signed
    tip = str(rev(repo, "refs/mc/status"))
    raw = subprocess.run(["git", "-C", str(repo), "cat-file", "commit", tip], capture_output=True, check=True).stdout
    assert b"\ngpgsig -----BEGIN SSH SIGNATURE-----" in raw
    altered = raw.replace(b"\n\n", b"\n\nAltered: ", 1)  # the signature header kept, the message changed
    hashed = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-t", "commit", "-w", "--stdin"],
        input=altered,
        capture_output=True,
        check=True,
    )
    forged = hashed.stdout.decode().strip()
    git(repo, "update-ref", "refs/mc/status", forged, tip)
    code, inconsistencies, _ = verify(repo)
    assert code == 1
    problems = {f["commit"]: f["problem"] for f in inconsistencies}
    assert problems == {
        forged: "status commit has a signature that does not verify with rec's key (altered after signing?)"
    }
    assert not git_verifies(repo, forged, custodians(k))
    assert git_verifies(repo, tip, custodians(k))
