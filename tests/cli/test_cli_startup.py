"""`mc --help` stays fast: no heavy module is imported until a command needs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import env

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
RUN_AND_LIST = """
import sys
from cli.main import app
sys.argv = ["mc", *sys.argv[1:]]
try:
    app()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print("LOADED", code, ",".join(heavy), file=sys.stderr)
"""


def loaded(repo: Path, *args: str) -> tuple[int, str, str]:
    """Run `mc ARGS` in a fresh interpreter: its exit code, the heavy modules it imported, its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST % (AGENT_HEAVY,), *args],
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
