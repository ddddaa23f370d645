"""The `mc` console script (cli/entry.py) against the typer app it stands in front of: the same
agent session, run on two copies of one repository, one copy through each, prints the same
output and exit codes and leaves the same refs; the agent commands skip typer, and help, usage
errors and every other command go to typer."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, edit_task, env, git, reconcile, write

MODULE, FUNCTION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["mc"].split(":")
# What `pip install` writes for [project.scripts], and what `mc` was before it: each reports
# at exit whether typer was imported.
MARK = "import atexit, sys; atexit.register(lambda: print('typer' in sys.modules, file=sys.stderr))\n"
CONSOLE = MARK + f"from {MODULE} import {FUNCTION}\nsys.argv[0] = 'mc'\nsys.exit({FUNCTION}())\n"
TYPER_APP = MARK + "from cli.main import app\napp(prog_name='mc')\n"

VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<time>"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "<commit>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<short>"),
    (re.compile(r"(?<![\w-])[A-Za-z0-9_-]{43}(?![\w-])"), "<token>"),
    (re.compile(r'"seconds": [0-9.e-]+'), '"seconds": <seconds>'),
]


def steady(text: str) -> str:
    """`text` without what differs between two runs of the same step: times, commits, tokens, durations."""
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


class Side:
    """One copy of the repository, and the way `mc` is run on it."""

    def __init__(self, repo: Path, script: str) -> None:
        self.repo = repo
        self.script = script
        self.token = ""

    def mc(self, *args: str, stdin: str | None = None, **extra: str) -> tuple[int, str, str, bool]:
        """Exit code, stdout, stderr and whether typer was imported."""
        args = tuple(a.replace("{token}", self.token) for a in args)
        extra = {k: v.replace("{token}", self.token) for k, v in extra.items()}
        proc = subprocess.run(
            [sys.executable, "-c", self.script, *args],
            cwd=self.repo,
            env=env(**extra),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        *lines, typer_loaded = proc.stderr.splitlines()
        return proc.returncode, proc.stdout, "".join(line + "\n" for line in lines), typer_loaded == "True"

    def refs(self) -> list[str]:
        return sorted(git(self.repo, "for-each-ref", "--format=%(refname)").split())


@pytest.fixture
def sides(repo: Path, tmp_path: Path) -> tuple[Side, Side]:
    """Two copies of a repository with two Queued tasks (`hello` wants outputs {answer: int})."""
    edit_task(
        repo,
        "  outputs:\n    schema:\n      type: object\n      required: [answer]\n"
        "      properties:\n        answer: {type: integer}\n",
    )
    write(
        repo,
        "missions/m/tasks/second.yaml",
        (repo / "missions/m/tasks/hello.yaml").read_text().replace("hello", "second"),
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second task")
    reconcile(repo)
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, symlinks=True)
    return Side(repo, CONSOLE), Side(copy, TYPER_APP)


def test_an_agent_session_is_the_same_through_the_console_script_and_typer(
    sides: tuple[Side, Side], tmp_path: Path
) -> None:
    console, typer_app = sides
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"answer": 42}')
    bad.write_text('{"answer": "forty-two"}')
    steps: list[tuple[tuple[str, ...], dict[str, str], bool, str | None]] = [
        (("claim", "--agent", "worker", "-o", "json"), {}, True, None),
        (("heartbeat", "m/hello", "-g", "1"), {"MC_LEASE_TOKEN": "{token}"}, True, None),
        (("heartbeat", "hello", "-m", "m", "--generation=1", "--lease-token", "{token}", "-o", "json"), {}, True, None),
        (("heartbeat", "m/hello", "-g", "1", "--lease-token", "-not-it", "-ojson"), {}, True, None),
        (("heartbeat", "m/hello", "--lease-token", "{token}"), {"MC_LEASE_GENERATION": "2"}, True, None),
        (
            ("usage", "--tokens", "100", "--cost", "0.5", "-g", "1", "-o", "yaml"),
            {"MC_TASK": "m/hello", "MC_LEASE_TOKEN": "{token}"},
            True,
            None,
        ),
        (
            ("effect", "check", "k1", "--task", "m/hello", "-g1", "-o", "json"),
            {"MC_LEASE_TOKEN": "{token}"},
            True,
            None,
        ),
        (
            ("effect", "record", "k1", "--result", '{"a": 1}', "-g", "1"),
            {"MC_TASK": "m/hello", "MC_LEASE_TOKEN": "{token}"},
            True,
            None,
        ),
        (("effect", "check", "k1", "-g", "1", "--task=m/hello"), {"MC_LEASE_TOKEN": "{token}"}, True, None),
        (("effect", "check", "k1", "-g", "1"), {"MC_LEASE_TOKEN": "{token}"}, True, None),
        (
            ("checkpoint", "m/hello", "--message", "halfway", "-g", "1", "-o", "json"),
            {"MC_LEASE_TOKEN": "{token}"},
            True,
            None,
        ),
        (
            ("complete", "m/hello", "-g", "1", "--outputs", str(bad), "-o", "json"),
            {"MC_LEASE_TOKEN": "{token}"},
            True,
            None,
        ),
        (("complete", "m/hello", "-g", "1", "--outputs", "-"), {"MC_LEASE_TOKEN": "{token}"}, True, '{"answer": 42}'),
        (("heartbeat", "m/hello", "-g", "1", "-o", "json"), {"MC_LEASE_TOKEN": "{token}"}, True, None),
        # usage errors and help: the console script hands them to typer
        (("heartbeat", "m/hello", "-g", "0", "-o", "json"), {}, False, None),
        (("claim", "--ttl", "abc", "--agent", "worker"), {}, False, None),
        (("checkpoint", "m/hello", "-g", "1"), {}, False, None),
        (("heartbeat", "m/hello", "-g", "1", "--bogus", "-o", "json"), {}, False, None),
        (("claim", "--help"), {}, False, None),
        (("effect", "check", "-h"), {}, False, None),
        (("--help",), {}, False, None),
        (("get", "tasks", "-o", "json"), {}, False, None),
    ]
    steps += [
        (("reconcile", "-o", "json"), {}, False, None),
        (("claim", "--agent", "worker", "-m", "m"), {}, True, None),
        (
            ("release", "m/second", "-g", "1", "--reason", "not now", "-o", "json"),
            {"MC_LEASE_TOKEN": "{token}"},
            True,
            None,
        ),
        (("reconcile", "-o", "json"), {}, False, None),
        (("claim", "-o", "ENV"), {"MC_AGENT_ID": "worker", "MC_MISSION": "m"}, True, None),
        (
            ("fail", "second", "--reason", "it broke", "-g", "2", "-o", "json"),
            {"MC_MISSION": "m", "MC_LEASE_TOKEN": "{token}"},
            True,
            None,
        ),
        (("claim", "--agent", "worker", "-o", "json"), {}, True, None),
    ]
    for args, extra, fast, stdin in steps:
        results = []
        for side in sides:
            code, out, err, loaded = side.mc(*args, stdin=stdin, **extra)
            assert loaded is (side is typer_app or not fast), (args, err)
            assert "Traceback" not in err, err
            token = re.search(r"(?:leaseToken\": \"|lease token |MC_LEASE_TOKEN=)([A-Za-z0-9_-]{43})", out)
            if token:
                side.token = token.group(1)
            results.append((code, steady(out), steady(err)))
        assert results[0] == results[1], args
        assert results[0][0] in {0, 1, 2, 3}, (args, results[0])
    assert console.refs() == typer_app.refs()
