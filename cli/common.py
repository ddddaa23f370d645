"""What every command shares: output formats, consoles, the repository option, and turning
expected failures (ours and the parser's) into one line, a JSON error with `-o json`, and an
exit code; never a traceback."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import typer
from typer.core import TyperGroup

from reconciler.vocabulary.errors import McError

P = ParamSpec("P")
R = TypeVar("R")

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


def output_option(default: Any = Output.table) -> Any:
    return typer.Option(default, "-o", "--output", help="Output format.", case_sensitive=False)


def repo_option() -> Any:
    return typer.Option(
        ".",
        "--repo",
        "-C",
        envvar="MC_REPO",
        help="The mission repository, or any directory inside it (default: the current directory; env MC_REPO).",
        show_default=False,
    )


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

    sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def emit(data: Any, fmt: Output) -> None:
    emit_json(data) if fmt is Output.json else emit_yaml(data)


def report_error(code: str, message: str, details: dict[str, Any], *, as_json: bool) -> None:
    """One line on stderr; with `-o json`, also `{"error": {code, message, details}}` on stdout."""
    red = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    sys.stderr.write(("\x1b[31merror:\x1b[0m " if red else "error: ") + message + "\n")  # plain: no rich to import
    if as_json:
        sys.stdout.write(json.dumps({"error": {"code": code, "message": message, "details": details}}, default=str))
        sys.stdout.write("\n")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Print an expected failure as one line (and as JSON with `-o json`) and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except McError as exc:
            as_json = str(kwargs.get("output", "")) == "json"
            report_error(exc.code, str(exc), exc.details, as_json=as_json)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def _wants_json(args: Sequence[str]) -> bool:
    for i, arg in enumerate(args):
        if arg in ("-o", "--output") and i + 1 < len(args) and args[i + 1].lower() == "json":
            return True
        if arg.lower() in ("-ojson", "--output=json"):
            return True
    return False


class McGroup(TyperGroup):
    """The command group of `mc` and `mc-mesh`: a parser error (a missing option, a bad value,
    an unknown command) is one line naming the command's help, and JSON too with `-o json`."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                code = 0
            else:
                where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
                message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                details = {"command": ctx.command_path} if ctx is not None else {}
                report_error("usage", f"{message}{where}", details, as_json=_wants_json(argv))
                code = int(getattr(exc, "exit_code", 2))
        except typer.Abort:
            code = 1
        else:
            code = rv if isinstance(rv, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)
