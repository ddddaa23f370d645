"""Shared fixtures of the governance tests: principals with real SSH keys, a gated task whose
result awaits approval, hand-made approvals, and a `git verify-commit` cross-check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import claim, git, mc, reconcile, status, write

PRINCIPALS = """\
apiVersion: missioncontrol.dev/v1
kind: Principals
metadata: {{name: principals}}
spec:
  principals:
    - name: alice
      kind: human
      email: alice@example.com
      sshKeys: ["{alice}"]
    - name: carol
      kind: human
      sshKeys: ["{carol}"]
  groups:
    - name: officers
      members: [alice]
"""
POLICY = """\
apiVersion: missioncontrol.dev/v1
kind: Policy
metadata: {name: gate}
spec:
  version: 3
  state: active
  rules:
    - name: one-officer
      action: publish
      match: {tasks: [hello]}
      require: {approvals: 1, groups: [officers]}
"""


def keypair(where: Path, name: str) -> Path:
    key = where / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


@pytest.fixture
def awaiting(repo: Path, tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    keys = {n: keypair(tmp_path, n) for n in ("alice", "carol", "mallory")}
    public = {n: k.with_suffix(".pub").read_text().strip() for n, k in keys.items()}
    write(repo, "principals.yaml", PRINCIPALS.format(alice=public["alice"], carol=public["carol"]))
    write(repo, "missions/m/policies/gate.yaml", POLICY)
    task = repo / "missions/m/tasks/hello.yaml"
    task.write_text(task.read_text() + "  approval: {policy: gate}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a gated task")
    reconcile(repo)
    claim(repo)
    assert mc("complete", "m/hello", "-g", "1", "-C", str(repo)).exit_code == 0
    reconcile(repo)
    assert status(repo)["phase"] == "AwaitingApproval"
    return repo, keys


def sign_as(repo: Path, key: Path) -> None:
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(key.with_suffix(".pub")))


def explain(repo: Path) -> dict[str, object]:
    result = mc("policy", "explain", "m/hello", "-C", str(repo), "-o", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def verdicts(repo: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = explain(repo)["approvals"]  # type: ignore[assignment]
    return found


def forge(repo: Path, key: Path | None, **claims: str) -> str:
    """An approval made by hand (signed with `key`, or unsigned) with the given trailers."""
    trailers = "\n".join(f"{k}: {v}" for k, v in claims.items())
    parent = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "-q", "--verify", "refs/mc/approvals/m/hello"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key.with_suffix('.pub')}"] if key else []
    args = ["commit-tree", *(["-S"] if key else []), "4b825dc642cb6eb9a060e54bf8d69288fbee4904"]
    args += ["-p", parent] if parent else []
    commit = subprocess.run(
        ["git", "-c", "user.name=x", "-c", "user.email=x@x", *sign, "-C", str(repo), *args],
        input=f"Approve\n\n{trailers}\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(repo, "update-ref", "refs/mc/approvals/m/hello", commit)
    return commit


def cross_check(repo: Path, keys: dict[str, Path], commit: str, expect_good: bool) -> None:
    """`git verify-commit` with an allowed-signers file of the principals' keys agrees."""
    allowed = repo.parent / "allowed_signers"
    allowed.write_text("".join(f"{n} {keys[n].with_suffix('.pub').read_text().strip()}\n" for n in ("alice", "carol")))
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode == 0) == expect_good, proc.stderr


def claims(repo: Path, **override: str) -> dict[str, str]:
    st = status(repo)
    base = {
        "MC-Task": "m/hello",
        "MC-Action": "publish",
        "MC-Approves": str(st["result_commit"]),
        "MC-Policy": "gate@3",
        "MC-Desired": git(repo, "rev-parse", "main").strip(),
    }
    return {**base, **{k.replace("_", "-"): v for k, v in override.items()}}
