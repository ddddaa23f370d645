"""What commands print: output formats, consoles, and an expected failure as one line on stderr
(and JSON with `-o json`). No typer here: the agent commands' fast path (cli/entry.py) uses it."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from reconciler.vocabulary.errors import McError

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made on first use: the agent commands (claim, heartbeat, ...) print plain
    lines and never pay rich's import."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


# user text like "KEY:x:" stays as written (no emoji codes)
out = cast("Console", _LazyConsole(highlight=False, soft_wrap=True, emoji=False))
err = cast("Console", _LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False))


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


class ClaimOutput(StrEnum):
    """`mc claim -o`: the formats of Output, and `env` (export lines for a shell)."""

    table = "table"
    json = "json"
    yaml = "yaml"
    env = "env"


def print_table(table: Any) -> None:
    """A table at the terminal's width; into a pipe or file, at its natural width, unfolded."""
    if out.is_terminal:
        out.print(table)
        return
    from rich.console import Console
    from rich.measure import Measurement

    wide = Console(width=100_000, highlight=False, no_color=True, emoji=False)
    width = Measurement.get(wide, wide.options, table).maximum
    console = Console(width=max(width, 1), highlight=False, no_color=True, emoji=False)
    with console.capture() as captured:
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def emit_yaml(data: Any) -> None:
    import yaml

    class Dumper(yaml.SafeDumper):
        """safe_dump's, and str subclasses (a TaskKey, a StrEnum) as the strings they are."""

    Dumper.add_multi_representer(str, yaml.representer.SafeRepresenter.represent_str)
    sys.stdout.write(yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True))


def emit(data: Any, fmt: Output) -> None:
    emit_json(data) if fmt is Output.json else emit_yaml(data)


def show(data: dict[str, Any], output: Output | ClaimOutput, line: str) -> None:
    """An agent command's result: `line` as plain text (the agent commands never load rich), or
    `data` as JSON or YAML."""
    if output in (Output.table, ClaimOutput.table):
        sys.stdout.write(line + "\n")
    else:
        emit(data, Output(str(output)))


def report_error(code: str, message: str, details: dict[str, Any], *, as_json: bool) -> None:
    """One line on stderr; with `-o json`, also `{"error": {code, message, details}}` on stdout."""
    red = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    sys.stderr.write(("\x1b[31merror:\x1b[0m " if red else "error: ") + message + "\n")  # plain: no rich to import
    if as_json:
        sys.stdout.write(json.dumps({"error": {"code": code, "message": message, "details": details}}, default=str))
        sys.stdout.write("\n")


def report_failure(exc: McError, output: object) -> int:
    """Report an expected failure of a command run with `-o output`; its exit code."""
    report_error(exc.code, str(exc), exc.details, as_json=str(output) == "json")
    return exc.exit_code
