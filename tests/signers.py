"""Principals with real SSH keys for the custody-signing tests: declaring nodes and reconcilers in
principals.yaml, and asking `git verify-commit` what it thinks of a signature."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import git, write
from tests.governance.conftest import keypair

PRINCIPAL = """\
    - name: {name}
      kind: {kind}
      sshKeys: ["{key}"]
"""


def declare_principals(repo: Path, people: dict[str, tuple[str, Path]], message: str = "Declare the signers") -> None:
    """principals.yaml holding `people` (name: kind, private key) besides `mc init`'s admin, committed."""
    listed = "".join(
        PRINCIPAL.format(name=name, kind=kind, key=key.with_suffix(".pub").read_text().strip())
        for name, (kind, key) in people.items()
    )
    write(
        repo,
        "principals.yaml",
        "apiVersion: missioncontrol.dev/v1\nkind: Principals\nmetadata: {name: principals}\nspec:\n"
        "  principals:\n    - name: admin\n      kind: human\n" + listed,
    )
    git(repo, "add", "principals.yaml")
    git(repo, "commit", "-qm", message)


def keys(where: Path, *names: str) -> dict[str, Path]:
    return {name: keypair(where, name) for name in names}


def git_verifies(repo: Path, commit: str, allowed: dict[str, Path]) -> bool:
    """Whether `git verify-commit` accepts `commit` with an allowed-signers file of `allowed`."""
    path = repo.parent / f"allowed-{'-'.join(sorted(allowed))}"
    path.write_text("".join(f"{n} {k.with_suffix('.pub').read_text().strip()}\n" for n, k in allowed.items()))
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", f"gpg.ssh.allowedSignersFile={path}", "verify-commit", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0


def chain(repo: Path, ref: str, stop: str | None = None) -> list[str]:
    """The commits down `ref`'s first parents (not those of `stop`)."""
    return git(repo, "rev-list", "--first-parent", ref, *([f"^{stop}"] if stop else [])).split()
