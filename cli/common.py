"""What every typer command shares: its parameters built from their declarations (cli/params.py,
cli/options.py), and turning expected failures (ours and the parser's) into one line, a JSON
error with `-o json`, and an exit code; never a traceback. What commands print is cli/output.py."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from cli.options import BRANCH, OUTPUT, REMOTE, REPO, SIGNING_KEY
from cli.output import report_error, report_failure
from cli.params import Command, Param
from reconciler.vocabulary.errors import McError

P = ParamSpec("P")
R = TypeVar("R")


def typer_param(param: Param) -> Any:
    """The typer Option or Argument that `param` declares (its default, in typer's style)."""
    if param.is_argument:
        return typer.Argument(param.default, envvar=param.envvar, help=param.help, show_default=param.show_default)
    return typer.Option(
        param.default,
        *param.decls,
        envvar=param.envvar,
        min=param.min,
        max=param.max,
        help=param.help,
        show_default=param.show_default,
        case_sensitive=not issubclass(param.type, Enum),  # choices match whatever the case
    )


def typer_command(command: Command, run: Callable[..., None] | None = None) -> Callable[..., None]:
    """A function typer makes `command` from: its signature is the declared parameters; it calls
    the implementation (or `run`) under `handle_errors`."""
    implementation = run or command.implementation()

    def call(**values: Any) -> None:
        implementation(**values)

    wrapped = handle_errors(call)
    signature = inspect.Signature(
        [
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=typer_param(p),
                annotation=p.type if p.default is not None else p.type | None,
            )
            for p in command.params
        ]
    )
    wrapped.__signature__ = signature  # type: ignore[attr-defined]
    wrapped.__name__ = wrapped.__qualname__ = command.path[-1]
    wrapped.__doc__ = command.help
    return wrapped


def output_option() -> Any:
    return typer_param(OUTPUT)


def repo_option() -> Any:
    return typer_param(REPO)


def remote_option() -> Any:
    return typer_param(REMOTE)


def branch_option() -> Any:
    return typer_param(BRANCH)


def signing_key_option() -> Any:
    return typer_param(SIGNING_KEY)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Print an expected failure as one line (and as JSON with `-o json`) and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except McError as exc:
            raise typer.Exit(report_failure(exc, kwargs.get("output", ""))) from None
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
