"""The architecture holds: import contracts (import-linter, configured in pyproject.toml), and
only `reconciler.gitstate` writes Git (docs/design.md, "Module map")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
# pygit2 calls and git subcommands that write objects or move refs
GIT_WRITES = {"create_commit", "create_blob", "create_blob_fromworkdir", "TreeBuilder", "init_repository", "set_target"}
GIT_WRITE_COMMANDS = {"update-ref", "push", "commit", "write-tree", "add", "fetch", "worktree"}


def test_import_contracts_are_kept() -> None:
    proc = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def _git_writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in GIT_WRITES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.attr}")
        if isinstance(node, ast.List) and node.elts:
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if words[:1] == ["git"] and GIT_WRITE_COMMANDS & set(words):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: git {' '.join(words[1:])}")
    return found


def test_only_gitstate_writes_git() -> None:
    sources = [*ROOT.glob("reconciler/**/*.py"), *ROOT.glob("cli/**/*.py"), *ROOT.glob("mesh/**/*.py")]
    outside = [p for p in sources if "gitstate" not in p.relative_to(ROOT).parts]
    assert outside, "no sources found"
    assert [w for p in outside for w in _git_writes(p)] == []


def test_the_check_sees_the_writes_it_forbids() -> None:
    inside = [w for p in ROOT.glob("reconciler/gitstate/*.py") for w in _git_writes(p)]
    assert any("create_commit" in w for w in inside)
    assert any("update-ref" in w for w in inside)
