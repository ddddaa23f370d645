"""Custody commits signed with a node's or a reconciler's own SSH key (`gitstate/signing.py`):
in process for Ed25519 (SSHSIG, the format `ssh-keygen -Y sign` writes), through `ssh-keygen`
for other key types; `git verify-commit` accepts every signature; a key that cannot sign stops
the command at start-up with one line, never a traceback."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from reconciler.gitstate import signing, sshsig
from reconciler.gitstate.commits import write_commit
from reconciler.gitstate.refs import lease_ref
from reconciler.vocabulary.errors import UsageError
from tests.conftest import MC, claim, env, git, mc, rev
from tests.governance.conftest import keypair
from tests.signers import chain, git_verifies

MC_MESH = str(Path(MC).parent / "mc-mesh")


@pytest.fixture(autouse=True)
def _unsigned() -> Iterator[None]:
    """Whatever a test configured, the next one starts unsigned."""
    yield
    signing.configure(None)


def test_nothing_is_signed_when_no_signer_is_configured(queued: Path) -> None:
    claim(queued)
    for commit in chain(queued, lease_ref("m/hello")) + chain(queued, "refs/mc/status"):
        signature, _ = pygit2.Repository(str(queued))[commit].peel(pygit2.Commit).gpg_signature
        assert not signature


def test_every_custody_commit_is_signed_with_the_configured_key_and_git_verify_commit_agrees(
    queued: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, reconciler, other = (keypair(tmp_path, n) for n in ("node", "reconciler", "other"))
    monkeypatch.setenv("MC_SIGNING_KEY", str(node))  # what a node's own agent commands would see
    claim(queued)
    assert mc("checkpoint", "m/hello", "-g", "1", "--message", "half way", "-C", str(queued)).exit_code == 0
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps({"answer": 42}))
    done = mc("complete", "m/hello", "-g", "1", "--outputs", str(outputs), "-C", str(queued))
    assert done.exit_code == 0, done.output
    monkeypatch.delenv("MC_SIGNING_KEY")
    assert mc("reconcile", "--signing-key", str(reconciler), "-C", str(queued)).exit_code == 0

    work = chain(queued, "refs/heads/mc/work/m/hello", stop="main")
    leases = chain(queued, lease_ref("m/hello"))
    holdings = chain(
        queued,
        "refs/mc/agents/" + git(queued, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/mc/agents").strip(),
    )
    assert len(work) == 2  # checkpoint, result
    assert len(leases) == 2  # grant, completed
    assert len(holdings) == 1
    for commit in work + leases + holdings:
        assert git_verifies(queued, commit, {"node": node}), commit
        assert not git_verifies(queued, commit, {"other": other})
    status_tip = chain(queued, "refs/mc/status")[0]
    assert git_verifies(queued, status_tip, {"reconciler": reconciler})
    assert not git_verifies(queued, status_tip, {"node": node})
    # the in-process reading of the same signatures
    repo = pygit2.Repository(str(queued))
    signature, signed = repo[work[0]].peel(pygit2.Commit).gpg_signature
    parsed = sshsig.parse(signature)
    assert parsed.namespace == "git"
    assert parsed.public == sshsig.public_blob(node.with_suffix(".pub").read_text())
    assert sshsig.verify_ed25519(parsed, signed)
    assert not sshsig.verify_ed25519(parsed, signed.replace(b"MC-Generation: 1", b"MC-Generation: 2"))


def test_the_in_process_format_is_the_one_ssh_keygen_writes_and_reads(tmp_path: Path) -> None:
    key = keypair(tmp_path, "node")
    allowed = tmp_path / "allowed"
    allowed.write_text(f"node {key.with_suffix('.pub').read_text().strip()}\n")
    message = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nsome content\n"
    ours = signing.load_signer(key).sign(message)
    (tmp_path / "ours.sig").write_text(ours)
    checked = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "node", "-n", "git", "-s", str(tmp_path / "ours.sig")],
        input=message,
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    theirs = subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(key)], input=message, capture_output=True, check=True
    ).stdout
    parsed = sshsig.parse(theirs)
    assert sshsig.verify_ed25519(parsed, message)
    assert not sshsig.verify_ed25519(parsed, message + b"x")
    assert (
        parsed.fingerprint
        in subprocess.run(
            ["ssh-keygen", "-l", "-f", str(key.with_suffix(".pub"))], capture_output=True, text=True, check=True
        ).stdout
    )


def test_other_key_types_sign_through_ssh_keygen(tmp_path: Path) -> None:
    key = tmp_path / "ecdsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "node", "-f", str(key)], check=True)
    signer = signing.load_signer(key)
    assert isinstance(signer, signing.KeygenSigner)
    repo_path = tmp_path / "r"
    repo = pygit2.init_repository(str(repo_path))
    signing.configure(signer)
    commit = write_commit(repo, "mc-node-n1", "node n1: register\n", repo.TreeBuilder().write(), [])
    assert git_verifies(repo_path, commit, {"node": key})
    assert not git_verifies(repo_path, commit, {"node": keypair(tmp_path, "other")})


def test_a_key_that_cannot_sign_is_one_line_at_start_up(repo: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "sesame", "-f", str(locked)], check=True)
    garbage = tmp_path / "garbage"
    garbage.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")
    cases = {
        locked: "protected by a passphrase",
        locked.with_suffix(".pub"): "is not an SSH private key (that is a public key",
        tmp_path / "missing": "cannot read it",
        garbage: "cannot sign",
    }
    for key, why in cases.items():
        with pytest.raises(UsageError) as raised:
            signing.load_signer(key)
        assert why in str(raised.value)
        result = mc("reconcile", "--signing-key", str(key), "-C", str(repo))
        assert result.exit_code == 2, result.output
        assert why in result.output
        assert "Traceback" not in result.output
    assert rev(repo, "refs/mc/status") is None
    # the daemons refuse before doing anything: no node record, no leader lease
    for command in ([MC, "reconciler", "run"], [MC_MESH, "run", "--node", "n1"]):
        proc = subprocess.run(
            [*command, "--signing-key", str(locked), "-C", str(repo)],
            capture_output=True,
            text=True,
            env=env(),
            timeout=30,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert "protected by a passphrase" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert git(repo, "for-each-ref", "refs/mc").strip() == ""


def test_what_is_not_a_valid_ssh_signature_is_refused_never_raised_past_the_reader(tmp_path: Path) -> None:
    key = keypair(tmp_path, "node")
    good = signing.load_signer(key).sign(b"content").encode()
    for broken in (b"", b"garbage", good[:60], good.replace(b"SSH SIGNATURE-----\n", b"SSH SIGNATURE-----\n!!", 1)):
        with pytest.raises(ValueError, match="SSH signature"):
            sshsig.parse(broken)
    parsed = sshsig.parse(good)
    assert sshsig.verify_ed25519(parsed, b"content")
    assert not sshsig.verify_ed25519(parsed, b"contents")
    assert not sshsig.verify_ed25519(parsed._replace(algorithm=b"rsa-sha2-512"), b"content")
    assert not sshsig.verify_ed25519(parsed._replace(public=parsed.public[:20]), b"content")
    assert not sshsig.verify_ed25519(parsed._replace(namespace="file"), b"content")  # bound to its namespace
