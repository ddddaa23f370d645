"""The agent commands' fast parser reads a command line exactly as typer does, from the same
declarations, or declines it (and typer reads it): never a different value, never a command
line typer refuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.agent_params import AGENT_COMMANDS
from cli.argv_parse import parse
from cli.common import McGroup, typer_command
from cli.params import Command, Param

IDS = [c.name for c in AGENT_COMMANDS]
ARABIC_ONE = "\u0661"  # a digit to Python's int(), not to typer
# Raw values for each type: the plain ones, and spellings typer reads (or refuses) its own way.
RAW: dict[type[Any], list[str]] = {
    int: ["1", "7", "01", "0", "-1", " 2", "2 ", "1_0", "+1", "0x1", ARABIC_ONE, "", "1.0", "1e3", "9" * 30],
    float: ["60", "1.5", "1e3", "1E2", "60.", ".5", "0", "-1", "1e9", "nan", "inf", "1_0", " 5", "", "0x1"],
    str: ["x", "m/t", "", "-dash", "--", "a=b", "é", " spaced "],
    Path: ["w", "a/b", ".", "", "-"],
}
CHOICES = ["json", "JSON", "Yaml", "table", "env", "ENV", "xml", ""]


class Parsers:
    """One command read both ways: `fast` by cli/argv_parse.py, `slow` by typer."""

    def __init__(self, command: Command) -> None:
        self.command = command
        self.seen: list[dict[str, Any]] = []
        self.app = typer.Typer(cls=McGroup, rich_markup_mode=None)
        self.app.callback()(self._group)
        self.app.command(command.path[-1])(typer_command(command, run=self._record))

    @staticmethod
    def _group() -> None:
        """A group, so that the command keeps its name."""

    def _record(self, **values: Any) -> None:
        self.seen.append(values)

    def fast(self, args: list[str], environ: dict[str, str] | None = None) -> dict[str, Any] | None:
        return parse(self.command, args, environ or {})

    def slow(self, args: list[str], environ: dict[str, str] | None = None) -> dict[str, Any] | None:
        """What typer calls the implementation with, or None if it refused the command line."""
        self.seen.clear()
        env: dict[str, str | None] = {p.envvar: None for p in self.command.params if p.envvar}
        env.update(environ or {})
        result = CliRunner().invoke(self.app, [self.command.path[-1], *args], env=env)
        if result.exit_code != 0:
            assert result.exit_code == 2, result.output
            assert result.stderr.startswith("error: "), result.output
            assert not self.seen
            return None
        assert len(self.seen) == 1, result.output
        return self.seen[0]

    def agree(self, args: list[str], environ: dict[str, str] | None = None) -> dict[str, Any] | None:
        """Both read `args` alike, or the fast parser declines; what typer read."""
        fast, slow = self.fast(args, environ), self.slow(args, environ)
        if fast is not None:
            assert fast == slow, (args, environ)
            assert [type(v) for v in fast.values()] == [type(v) for v in slow.values()], args
        return slow

    def minimal(self, leave_out: str = "") -> list[str]:
        """Every required parameter (but `leave_out`) with a plain value."""
        args: list[str] = []
        for p in self.command.params:
            if p.required and p.name != leave_out:
                args += [plain(p)] if p.is_argument else [p.decls[0], plain(p)]
        return args


def plain(param: Param) -> str:
    """A value of `param` both parsers take."""
    if isinstance(param.default, str) and param.default and param.type is str:
        return param.default + "-x"
    return {int: "3", float: "120.5", Path: "w"}.get(param.type, "json" if param.decls == ("-o", "--output") else "v")


def raw_values(param: Param) -> list[str]:
    return RAW.get(param.type, CHOICES)


def spellings(param: Param, value: str) -> list[list[str]]:
    """Every way to give `param` the value `value` on a command line."""
    if param.is_argument:
        return [[value]]
    found: list[list[str]] = []
    for decl in param.decls:
        found += [[decl, value], [f"{decl}={value}"]] if decl.startswith("--") else [[decl, value], [decl + value]]
    return found


@pytest.fixture(params=AGENT_COMMANDS, ids=IDS)
def parsers(request: pytest.FixtureRequest) -> Parsers:
    command: Command = request.param
    return Parsers(command)


def test_every_parameter_in_the_table_is_read_alike_by_both(parsers: Parsers) -> None:
    """Each option in each of its spellings, and each argument, with a plain value: both parsers
    take it, with the same value."""
    for param in parsers.command.params:
        for spelled in spellings(param, plain(param)):
            args = [*parsers.minimal(leave_out=param.name), *spelled]
            fast = parsers.fast(args)
            assert fast is not None, args
            assert fast == parsers.slow(args), args
            assert str(fast[param.name]) == plain(param) or param.type not in (str, Path, int), args


def test_environment_variables_and_defaults_are_read_alike(parsers: Parsers) -> None:
    for param in parsers.command.params:
        if param.envvar:
            environ = {param.envvar: plain(param)}
            args = parsers.minimal(leave_out=param.name)
            assert parsers.fast(args, environ) is not None, param.envvar
            assert parsers.agree(args, environ) == parsers.fast(args, environ)
            assert parsers.agree(args, {param.envvar: ""}) == parsers.agree(args), "an empty variable is unset"
            given = ["from-the-line"] if param.is_argument else [param.decls[0], "from-the-line"]
            if param.type is str:
                read = parsers.agree([*args, *given], environ)
                assert read is not None
                assert read[param.name] == "from-the-line", "the command line wins over the environment"
    defaults = parsers.agree(parsers.minimal())
    assert defaults is not None
    assert defaults == parsers.fast(parsers.minimal())


def test_odd_values_are_read_alike_or_left_to_typer(parsers: Parsers) -> None:
    for param in parsers.command.params:
        for value in raw_values(param):
            for spelled in spellings(param, value)[:2]:
                parsers.agree([*parsers.minimal(leave_out=param.name), *spelled])
            if param.envvar:
                parsers.agree(parsers.minimal(leave_out=param.name), {param.envvar: value})


SHAPES: list[Callable[[list[str]], list[str]]] = [
    lambda a: [*a, "--bogus"],
    lambda a: [*a, "--bogus", "x"],
    lambda a: [*a, "-x"],
    lambda a: [*a, "-"],
    lambda a: [*a, "extra", "words"],
    lambda a: [*a, "--"],
    lambda a: ["--", *a],
    lambda a: [*a, "--", "-x"],
    lambda a: [*a, "-o"],
    lambda a: [*a, "--repo"],
    lambda a: [*a, "--repo="],
    lambda a: [*a, "--rep", "x"],
    lambda a: [*a, "-C", "a", "-C", "b"],
    lambda a: [*a, "-Cx", "-oJSON"],
    lambda a: [*a, "-C=x"],
    lambda a: [*a, "---repo", "x"],
    lambda a: [*a, "--remote", "-x"],
    lambda a: [*a, "--remote", "--"],
    lambda a: [*a, "--remote", "--repo", "x"],
    lambda a: a[::-1],
    lambda a: a[1:],
    lambda a: a[:-1],
]


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_odd_command_lines_are_read_alike_or_left_to_typer(parsers: Parsers, shape: int) -> None:
    parsers.agree(SHAPES[shape](parsers.minimal()))


def test_values_that_look_like_options_are_values(parsers: Parsers) -> None:
    """A lease token may start with `-`: an option takes the next word whatever it is."""
    for param in parsers.command.params:
        if param.type is str and not param.is_argument:
            args = [*parsers.minimal(leave_out=param.name), param.decls[0], "-Xy_z"]
            fast = parsers.fast(args)
            assert fast is not None, args
            assert fast[param.name] == "-Xy_z"
            assert fast == parsers.slow(args)


def test_usage_errors_are_left_to_typer(parsers: Parsers) -> None:
    """What typer refuses, the fast parser declines: typer then words the error."""
    assert parsers.fast(parsers.minimal()) is not None
    for param in parsers.command.params:
        if param.required:
            assert parsers.fast(parsers.minimal(leave_out=param.name)) is None
            assert parsers.slow(parsers.minimal(leave_out=param.name)) is None
        bad = {int: "many", float: "lots"}.get(param.type, "xml")
        if param.type not in (str, Path) and not param.is_argument:  # any string is a path
            args = [*parsers.minimal(leave_out=param.name), param.decls[0], bad]
            assert parsers.fast(args) is None
            assert parsers.slow(args) is None
        if param.min is not None or param.max is not None:
            past = str(int(param.min) - 1) if param.min is not None else str(int(param.max or 0) + 1)
            args = [*parsers.minimal(leave_out=param.name), param.decls[0], past]
            assert parsers.fast(args) is None
            assert parsers.slow(args) is None
    assert parsers.fast([*parsers.minimal(), "--no-such-option"]) is None
    assert parsers.fast([*parsers.minimal(), "one", "two", "three"]) is None
