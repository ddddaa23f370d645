"""`mc --help` stays fast: no heavy module is imported until a command needs it."""

from __future__ import annotations

import subprocess
import sys

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
