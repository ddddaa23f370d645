"""What every command shares: output formats, consoles, and turning expected failures into exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

import typer
import yaml
from rich.console import Console

from reconciler.errors import McError

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def output_option(default: Any = Output.table) -> Any:
    return typer.Option(default, "-o", "--output", help="Output format.", case_sensitive=False)


def repo_option() -> Any:
    return typer.Option(
        ".",
        "--repo",
        "-C",
        envvar="MC_REPO",
        help="The mission repository (default: the current directory; env MC_REPO).",
        show_default=False,
    )


def print_table(table: Any) -> None:
    """A table at the terminal's width; into a pipe or file, at its natural width, unfolded."""
    if out.is_terminal:
        out.print(table)
        return
    from rich.measure import Measurement

    width = Measurement.get(out, out.options.update(width=100_000), table).maximum
    console = Console(width=max(width, 1), highlight=False, no_color=True)
    with console.capture() as captured:
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def emit_yaml(data: Any) -> None:
    sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def emit(data: Any, fmt: Output) -> None:
    emit_json(data) if fmt is Output.json else emit_yaml(data)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Print an expected failure as one line on stderr and exit with its code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except McError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper
