"""Shared fixtures: throw-away mission repositories under a temp dir, and an `mc` runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from reconciler.gitstate.bootstrap import init_repository
from reconciler.gitstate.status_files import status_path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example-missions"
MC = str(Path(sys.executable).parent / "mc")  # the installed `mc`, for tests that need real processes
GIT_ID = ("-c", "user.name=t", "-c", "user.email=t@t")


def env(**extra: str) -> dict[str, str]:
    """This process's environment without MC_* variables, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MC_")}, **extra}


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; its stdout, or an assertion naming the failure."""
    proc = subprocess.run(
        ["git", *GIT_ID, "-C", str(repo), *args], capture_output=True, text=True, env=env(), check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def rev(repo: Path, ref: str) -> str | None:
    """The commit `ref` names in `repo`, or None."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", ref], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or None


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# The lease tokens of the claims a test made, by (task, generation): the report helpers present
# them as the holder would (an agent keeps the token its claim printed). Tests of the token
# itself pass --lease-token or MC_LEASE_TOKEN explicitly, which wins.
LEASE_TOKENS: dict[tuple[str, int], str] = {}
REPORTS = ("heartbeat", "usage", "checkpoint", "complete", "fail", "release")


@pytest.fixture(autouse=True)
def _forget_lease_tokens() -> None:
    LEASE_TOKENS.clear()


def remember_claim(stdout: str) -> None:
    """Keep the token of a claim printed as JSON."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return
    if isinstance(data, dict) and "leaseToken" in data:
        LEASE_TOKENS[(str(data["task"]), int(data["generation"]))] = str(data["leaseToken"])


def as_holder(args: list[str]) -> list[str]:
    """`args` of a report, with the holder's lease token added when the test did not give one."""
    if not args or args[0] not in REPORTS or "--lease-token" in args or "-g" not in args:
        return args
    task, generation = args[1].split("/")[-1], args[args.index("-g") + 1]
    mine = sorted((g, t) for (k, g), t in LEASE_TOKENS.items() if k.endswith("/" + task))
    # the token of that generation's claim; for a generation never granted, the latest one's
    token = next((t for g, t in mine if str(g) == generation), mine[-1][1] if mine else None)
    return [*args, "--lease-token", token] if token else args


def mc(*args: str) -> Result:
    """Run `mc` in-process; exit codes and stdout/stderr as a user would see them."""
    result = CliRunner().invoke(app, as_holder(list(args)))
    if args[:1] == ("claim",) and result.exit_code == 0:
        remember_claim(result.stdout)
    return result


def findings(*args: str) -> list[dict[str, Any]]:
    result = mc("validate", *args, "-o", "json")
    assert result.exit_code in (0, 1), result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A valid mission repository (`mc init`), committed, with mission `m`."""
    root = tmp_path / "repo"
    init_repository(root, mission="m", owner="alice")
    return root


TASK = """\
apiVersion: missioncontrol.dev/v1
kind: Task
metadata:
  name: {name}
spec:
  title: {name}
  kluster: main
  agent:
    name: worker
  needs: {needs}
"""


@pytest.fixture
def add_task(repo: Path) -> Callable[..., Path]:
    def add(name: str, needs: list[str] | None = None, text: str | None = None) -> Path:
        body = text if text is not None else TASK.format(name=name, needs=json.dumps(needs or []))
        return write(repo, f"missions/m/tasks/{name}.yaml", body)

    return add


# -- a repository with a Queued task, and the agent commands on it ---------------------------


def status(repo: Path, key: str = "m/hello") -> dict[str, object]:
    data: dict[str, object] = json.loads(git(repo, "show", f"refs/mc/status:{status_path(key)}"))
    return data


def reconcile(repo: Path) -> list[str]:
    result = mc("reconcile", "-C", str(repo), "-o", "json")
    assert result.exit_code == 0, result.output
    transitions: list[str] = json.loads(result.stdout)["transitions"]
    return transitions


def claim(repo: Path, *extra: str) -> dict[str, object]:
    result = mc("claim", "--agent", "worker", "-C", str(repo), "-o", "json", *extra)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def edit_task(repo: Path, extra: str) -> None:
    path = repo / "missions/m/tasks/hello.yaml"
    path.write_text(path.read_text() + extra)
    git(repo, "commit", "-qam", "edit hello")


@pytest.fixture
def queued(repo: Path) -> Path:
    edit_task(
        repo,
        "  outputs:\n    schema:\n      type: object\n      required: [answer]\n      properties:\n        answer: {type: integer}\n",
    )
    reconcile(repo)
    assert status(repo)["phase"] == "Queued"
    return repo
