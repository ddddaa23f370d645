"""`mc --help` stays fast: no heavy module is imported until a command needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, edit_task, env, reconcile

HEAVY = ("pygit2", "jsonschema", "lancedb", "onnxruntime", "sigstore", "pyarrow")


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = "import sys, cli.main, cli.mesh_main; print(','.join(m for m in sys.modules if m.split('.')[0] in %r))"
    out = subprocess.run([sys.executable, "-c", code % (HEAVY,)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_exits_zero_and_lists_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "cli", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    for command in ("validate", "init", "get", "describe"):
        assert command in out.stdout


AGENT_HEAVY = ("jsonschema", "rich", "lancedb", "onnxruntime", "pyarrow", "sigstore", "rapidfuzz")
# what the console script's fast path (cli/entry.py) skips as well: the parser
FAST_HEAVY = (*AGENT_HEAVY, "typer", "click", "pydantic", "yaml")
RUN_AND_LIST = """
import sys
from %s import %s as run
sys.argv = ["mc", *sys.argv[1:]]
try:
    code = run()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in %r if m in sys.modules)
print("LOADED", code or 0, ",".join(heavy), file=sys.stderr)
"""
TYPER_APP = ("cli.main", "app")
CONSOLE_SCRIPT = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["mc"].split(":"))


def loaded(
    repo: Path, *args: str, entry: tuple[str, ...] = TYPER_APP, watch: tuple[str, ...] = AGENT_HEAVY
) -> tuple[int, str, str]:
    """Run `mc ARGS` in a fresh interpreter, through `entry` (module, function): its exit code,
    which of the modules in `watch` (packages or modules) it imported, its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST % (*entry, watch), *args],
        capture_output=True,
        text=True,
        cwd=repo,
        env=env(),
        check=False,
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("LOADED "))
    _, code, heavy = [*line.split(" ", 2), ""][:3]
    return int(code), heavy.strip(), proc.stdout


def test_the_agent_commands_and_help_load_no_heavy_module(queued: Path) -> None:
    """`mc --help`, `mc claim` and `mc heartbeat` stay free of jsonschema, rich, lancedb and the rest."""
    assert loaded(queued, "--help")[:2] == (0, "")
    code, heavy, stdout = loaded(queued, "claim", "--agent", "worker", "-o", "json")
    assert (code, heavy) == (0, "")
    token = json.loads(stdout)["leaseToken"]
    beat = loaded(queued, "heartbeat", "m/hello", "-g", "1", "--lease-token", token)
    assert beat[:2] == (0, "")
    assert beat[2].startswith("renewed m/hello generation 1")


def test_the_console_script_runs_agent_commands_without_typer(queued: Path) -> None:
    """Through the `mc` console script as pyproject.toml declares it, `mc claim` and `mc heartbeat`
    import neither typer nor click (nor pydantic, yaml, jsonschema, rich, lancedb...); help
    still goes through typer."""
    assert CONSOLE_SCRIPT == ("cli.entry", "main")
    fast = {"entry": CONSOLE_SCRIPT, "watch": FAST_HEAVY}
    code, heavy, stdout = loaded(queued, "claim", "--agent", "worker", "-o", "json", **fast)
    assert (code, heavy) == (0, "")
    token = json.loads(stdout)["leaseToken"]
    beat = loaded(queued, "heartbeat", "m/hello", "-g", "1", "--lease-token", token, **fast)
    assert beat[:2] == (0, "")
    assert beat[2].startswith("renewed m/hello generation 1")
    code, heavy, stdout = loaded(queued, "heartbeat", "m/hello", "--help", **fast)
    assert code == 0
    assert {"typer", "click"} & set(heavy.split(","))
    assert stdout.startswith("Usage: mc heartbeat [OPTIONS] {task}")


@pytest.mark.parametrize("schema", [False, True], ids=["no output schema", "an output schema"])
def test_a_result_loads_jsonschema_only_for_an_output_schema(repo: Path, tmp_path: Path, schema: bool) -> None:
    """`mc complete` checks outputs with jsonschema only when the task declares an output schema."""
    if schema:
        edit_task(repo, "  outputs:\n    schema:\n      type: object\n      required: [answer]\n")
    reconcile(repo)
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"answer": 42}')
    fast = {"entry": CONSOLE_SCRIPT, "watch": (*AGENT_HEAVY, "typer")}
    code, heavy, stdout = loaded(repo, "claim", "--agent", "worker", "-o", "json", **fast)
    assert (code, heavy) == (0, "")
    token = json.loads(stdout)["leaseToken"]
    done = loaded(repo, "complete", "m/hello", "-g", "1", "--lease-token", token, "--outputs", str(outputs), **fast)
    assert done[:2] == (0, "jsonschema" if schema else "")


# What an agent command does not use, beyond the heavy packages: each would cost milliseconds of
# every call's start (benchmarks/bench_cli.py). Reports read one task's status (gitstate.status_files),
# not the status chain's reader and writer, the claim queue or the status vocabulary; a result
# builds its task from manifests.task_model, not every kind's types; a claim imports difflib only
# to suggest a name; a command that writes nothing starts no process.
STATUS_CHAIN = ("reconciler.gitstate.status", "reconciler.gitstate.queue", "reconciler.vocabulary.status")


def test_the_agent_commands_import_only_what_they_use(queued: Path, tmp_path: Path) -> None:
    fast = {"entry": CONSOLE_SCRIPT}
    claimed = loaded(queued, "claim", "--agent", "worker", "-o", "json", watch=(*STATUS_CHAIN[:1], "difflib"), **fast)
    assert claimed[:2] == (0, "")
    held = ("-g", "1", "--lease-token", json.loads(claimed[2])["leaseToken"])
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"answer": 42}')
    reports = {
        ("heartbeat", "m/hello", *held): (*STATUS_CHAIN, "reconciler.manifests"),
        ("checkpoint", "m/hello", *held, "--message", "halfway"): (*STATUS_CHAIN, "reconciler.manifests"),
        ("effect", "check", "m/hello:email", "--task", "m/hello", *held): (*STATUS_CHAIN, "subprocess", "tempfile"),
        ("complete", "m/hello", *held, "--outputs", str(outputs)): (*STATUS_CHAIN, "reconciler.manifests.model"),
    }
    for args, watch in reports.items():
        assert loaded(queued, *args, watch=watch, **fast)[:2] == (0, ""), args
