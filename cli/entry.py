"""The `mc` console script.

Agents call the agent commands (cli/agent_params.py) in loops, so those skip typer: their
arguments are parsed from the same declarations (cli/argv_parse.py) and the implementation is
called directly, with expected failures reported as the typer commands report them. Help,
every other command, and any command line the fast parser is not certain of go to the typer
app (cli/main.py), which then prints the usage error if there is one."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def run_agent_command(args: Sequence[str]) -> int | None:
    """Run `mc ARGS` without typer if ARGS call an agent command that parses cleanly: its exit
    code; None if typer should run it."""
    from cli.agent_params import agent_command

    command = agent_command(args)
    if command is None:
        return None
    from cli.argv_parse import parse

    values = parse(command, args[len(command.path) :], os.environ)
    if values is None:
        return None
    from cli.output import report_failure
    from reconciler.vocabulary.errors import McError

    try:
        command.implementation()(**values)
    except McError as exc:
        return report_failure(exc, values.get("output", ""))
    except KeyboardInterrupt:
        return 130
    return 0


def main() -> int:
    args = sys.argv[1:]
    code = run_agent_command(args)
    if code is not None:
        return code
    from cli.main import app

    app(prog_name="mc")  # exits
    return 0
