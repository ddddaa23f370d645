"""The typer commands `mc claim`, `heartbeat`, `usage`, `checkpoint`, `complete`, `fail` and
`release`, built from their declarations (cli/agent_params.py); what they do is cli/agent_run.py.

The `mc` entry point (cli/entry.py) runs the same implementations without typer, except for
`--help` and command lines it does not parse with certainty (usage errors among them)."""

from __future__ import annotations

from cli.agent_params import CHECKPOINT, CLAIM, COMPLETE, FAIL, HEARTBEAT, RELEASE, USAGE
from cli.common import typer_command

claim = typer_command(CLAIM)
heartbeat = typer_command(HEARTBEAT)
usage = typer_command(USAGE)
checkpoint = typer_command(CHECKPOINT)
complete = typer_command(COMPLETE)
fail = typer_command(FAIL)
release = typer_command(RELEASE)
